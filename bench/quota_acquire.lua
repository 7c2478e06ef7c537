-- bench/quota_acquire.lua: wrk script for quota decisions over HTTP on keep-alive connections:
-- acquire a permit, release it, acquire, release, ...
--   POST /jobengine/quotas/{id}/acquire {}              -> 200 {"granted":true,"permitId":...} | 429
--   POST /jobengine/quotas/{id}/release {"permitId":P}  -> 204
-- quota_bench.sh passes, in the environment:
--   QUOTA_BENCH_TOKEN  a bearer token with orch:jobs (an Orch.Worker client)
--   QUOTA_BENCH_QUOTA  the quota id
--   QUOTA_BENCH_TOKEN2, QUOTA_BENCH_QUOTA2  optional (pool_bench.sh): a second tenant's token
--                      and quota, used by the odd-numbered wrk threads (thread 1 of -t2), so
--                      that two tenants draw on the same job type at once
--
-- Pairing: wrk keeps one Lua state per thread and tells neither request() nor response() which
-- connection it serves, so the alternation is kept per wrk thread, not per connection: every
-- permitId that response() parses (string.match) goes into the thread's FIFO, and the next
-- request the thread writes, on whichever of its connections is free first, releases the oldest
-- one; with the FIFO empty it acquires. So every granted permit is released by the next free
-- connection, acquires and releases alternate (about half each), and a thread never holds more
-- permits than it has connections. A denial (429) holds nothing, so the next request acquires.
--
-- Each response is one decision. done() prints one line, which quota_bench.sh parses:
--   quota_acquire: responses=N grants=N denials=N releases=N release_404=N other=N first_other=S held=N
-- (other = every status but 200-with-permitId, 429 and 204; held = permits left unreleased in
-- the FIFOs when the run stopped: they expire after the default ttlSeconds, 300.)

local token = os.getenv("QUOTA_BENCH_TOKEN")
local quota = os.getenv("QUOTA_BENCH_QUOTA")
if not token or token == "" or not quota or quota == "" then
  error("quota_acquire.lua: set QUOTA_BENCH_TOKEN and QUOTA_BENCH_QUOTA")
end
local token2 = os.getenv("QUOTA_BENCH_TOKEN2")
local quota2 = os.getenv("QUOTA_BENCH_QUOTA2")

local base, release_path, headers
local acquire_req

local threads, next_tid = {}, 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

-- Globals, so that done() can read them from each thread with thread:get().
grants, denials, releases, release_404, other, first_other, held = 0, 0, 0, 0, 0, 0, 0

local fifo, head, tail = {}, 1, 0

function init(args)
  if tid and tid % 2 == 1 and token2 and token2 ~= "" and quota2 and quota2 ~= "" then
    token, quota = token2, quota2
  end
  base = "/jobengine/quotas/" .. quota
  release_path = base .. "/release"
  headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
  }
  -- wrk.init has set wrk.headers.Host by now; wrk.format copies it into our headers.
  acquire_req = wrk.format("POST", base .. "/acquire", headers, "{}")
end

function request()
  if head <= tail then
    local permit = fifo[head]
    fifo[head] = nil
    head = head + 1
    held = tail - head + 1
    return wrk.format("POST", release_path, headers, '{"permitId":"' .. permit .. '"}')
  end
  return acquire_req
end

function response(status, hdrs, body)
  if status == 200 then
    local permit = string.match(body, '"permitId"%s*:%s*"([^"]+)"')
    if permit then
      grants = grants + 1
      tail = tail + 1
      fifo[tail] = permit
      held = tail - head + 1
      return
    end
  elseif status == 429 then
    denials = denials + 1
    return
  elseif status == 204 then
    releases = releases + 1
    return
  elseif status == 404 then
    release_404 = release_404 + 1
  end
  other = other + 1
  if first_other == 0 then first_other = status end
end

function done(summary, latency, requests)
  local t = {grants = 0, denials = 0, releases = 0, release_404 = 0, other = 0, held = 0}
  local first = 0
  for _, th in ipairs(threads) do
    for k in pairs(t) do t[k] = t[k] + th:get(k) end
    local f = th:get("first_other")
    if first == 0 and f ~= 0 then first = f end
  end
  io.write(string.format(
    "quota_acquire: responses=%d grants=%d denials=%d releases=%d release_404=%d other=%d " ..
    "first_other=%d held=%d\n",
    t.grants + t.denials + t.releases + t.other, t.grants, t.denials, t.releases,
    t.release_404, t.other, first, t.held))
end
