-- wrk script: PUT bodies of a given size (wrk ... -- SIZE), each one distinct, so that
-- every request stores a new blob (the same bytes twice would be deduplicated).
local threads = 0
local counter = 0
local size = 4096
local prefix = ""

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  size = tonumber(args[1] or "4096")
  math.randomseed(os.time() + thread_id)
  prefix = string.format("%d-%d-%d-", thread_id, os.time(), math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  local head = prefix .. counter .. "-"
  local body = head .. string.rep("x", size - #head)
  return wrk.format("PUT", nil, { ["Content-Type"] = "application/octet-stream" }, body)
end
