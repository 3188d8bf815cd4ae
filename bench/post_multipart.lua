-- wrk script: the reference's multipart POST /upload of a given size (wrk ... -- SIZE),
-- each body distinct, so that every request stores a new blob.
local threads = 0
local counter = 0
local size = 4096
local prefix = ""
local boundary = "mdbxbenchboundary"

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
  local content = head .. string.rep("x", size - #head)
  local body = "--" .. boundary .. "\r\n"
    .. 'Content-Disposition: form-data; name="file"; filename="small.bin"\r\n'
    .. "Content-Type: application/octet-stream\r\n\r\n"
    .. content .. "\r\n--" .. boundary .. "--\r\n"
  return wrk.format("POST", nil,
    { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }, body)
end
