-- wrk script for bench/load.sh: every request picks a path uniformly at
-- random from the file named by WRK_PATHS (one path per line). Requests are
-- formatted once per thread, with the headers given by -H, so that the
-- per-request Lua cost is a random number and a table lookup.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local reqs, n = {}, 0
function init(args)
  local file = os.getenv("WRK_PATHS") or args[1]
  assert(file, "set WRK_PATHS or pass the file after --")
  for line in io.lines(file) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("GET", line, wrk.headers)
    end
  end
  assert(n > 0, "no paths in " .. file)
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  return reqs[math.random(n)]
end
