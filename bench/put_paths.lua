-- wrk script: PUT bodies of a given size, each distinct, each to a path of its own under
-- a folder (wrk ... -- SIZE FOLDER): a WebDAV server's small-file PUT, every request a
-- new file.
local threads = 0
local counter = 0
local size = 4096
local folder = "small-put"
local prefix = ""

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  size = tonumber(args[1] or "4096")
  folder = args[2] or folder
  math.randomseed(os.time() + thread_id)
  prefix = string.format("%d-%d-%d-", thread_id, os.time(), math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  local name = prefix .. counter
  local body = name .. "-" .. string.rep("x", size - #name - 1)
  return wrk.format("PUT", "/" .. folder .. "/" .. name .. ".bin",
    { ["Content-Type"] = "application/octet-stream" }, body)
end
