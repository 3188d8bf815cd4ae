-- wrk script: GET the paths listed in a file, one per line (wrk ... -- FILE), in turn,
-- each thread from its own starting point, round and round until wrk's duration ends.
local threads = 0
local paths = {}
local index = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  index = (thread_id - 1) * 7919 % #paths
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
end
