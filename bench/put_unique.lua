-- wrk script: PUT bodies of a given size, each one distinct, so that every request stores
-- a new blob (the same bytes twice would be deduplicated): wrk ... -- SIZE [FOLDER]. With
-- a FOLDER, each body goes to a path of its own under it (a WebDAV server's small-file
-- PUT: every request a new file); without, to the URL's own path.
local threads = 0
local counter = 0
local size = 4096
local folder = nil
local prefix = ""

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  size = tonumber(args[1] or "4096")
  folder = args[2]
  math.randomseed(os.time() + thread_id)
  prefix = string.format("%d-%d-%d-", thread_id, os.time(), math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  local name = prefix .. counter
  local body = name .. "-" .. string.rep("x", size - #name - 1)
  local path = nil
  if folder then
    path = "/" .. folder .. "/" .. name .. ".bin"
  end
  return wrk.format("PUT", path, { ["Content-Type"] = "application/octet-stream" }, body)
end
