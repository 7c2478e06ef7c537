-- bench/lease_worker.lua: wrk script in which every connection is a worker that leases one job
-- (POST /jobengine/jobs/lease, max 1) and completes it (POST /jobengine/jobs/{id}/complete,
-- succeeded), until nothing is left to lease. lease_bench.sh passes:
--   LEASE_BENCH_TOKEN     bearer token with orch:jobs
--   LEASE_BENCH_JOBTYPE   the job type to lease
--   LEASE_BENCH_LEASE_S   leaseSeconds (long: no lease may expire during the run)
--   LEASE_BENCH_DONE_DIR  each thread creates lease.done.<thread> there once it is drained;
--                         lease_bench.sh then stops wrk (SIGINT) without waiting for -d
-- wrk shares one Lua state between the connections of a thread, so the jobs a thread leased wait
-- in a queue and the thread's next request completes the oldest; otherwise it leases. Every
-- lease's answer is followed by a complete, so each connection alternates as a worker would.
-- A lease answered {"jobs": []} (no nextEligibleAt: nothing pending, not a quota refusal) drains
-- the thread: it stops leasing, completes what it holds, and keeps its idle connections busy with
-- GET /healthz until no lease or complete of its own is in flight, then stops.
-- done() prints
--   lease_worker: leased=N completed=N empty=N throttled=N non200=N first_non200=STATUS
--                 first_error=BODY seconds=S
-- where seconds runs from the first request to the last completion (CLOCK_MONOTONIC).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } lb_timespec;
int clock_gettime(int clk, lb_timespec *ts);
]]
local ts = ffi.new("lb_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local token = os.getenv("LEASE_BENCH_TOKEN") or error("set LEASE_BENCH_TOKEN")
local job_type = os.getenv("LEASE_BENCH_JOBTYPE") or error("set LEASE_BENCH_JOBTYPE")
local lease_s = tonumber(os.getenv("LEASE_BENCH_LEASE_S") or "600")
local done_dir = os.getenv("LEASE_BENCH_DONE_DIR") or error("set LEASE_BENCH_DONE_DIR")

wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"

local threads, next_tid = {}, 0
function setup(thread)
  thread:set("tid", next_tid)
  -- wrk 4.1 calls request() once on thread 0's state before the thread starts, only to check
  -- that it parses; that request is never sent and must not be counted
  thread:set("probe", next_tid == 0)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

-- thread state
leased, completed, empty, throttled, bad, first_bad, first_error = 0, 0, 0, 0, 0, 0, ""
t_first, t_last = 0, 0
local queue, qhead, qtail = {}, 1, 0 -- leased jobs waiting for their complete: {id, leaseId}
local leasing, completing = 0, 0     -- requests of each kind in flight
local draining, finished = false, false

local lease_body = string.format(
  '{"jobTypes":["%s"],"workerId":"lease-bench","max":1,"leaseSeconds":%d}', job_type, lease_s)

local function finish_if_idle()
  if draining and not finished and leasing == 0 and completing == 0 and qhead > qtail then
    finished = true
    local f = io.open(done_dir .. "/lease.done." .. tid, "w")
    if f then f:close() end
    wrk.thread:stop()
  end
end

function request()
  if probe then
    probe = false
    return wrk.format("POST", "/jobengine/jobs/lease", nil, lease_body)
  end
  if t_first == 0 then t_first = now() end
  if qhead <= qtail then
    local j = queue[qhead]
    queue[qhead] = nil
    qhead = qhead + 1
    completing = completing + 1
    return wrk.format("POST", "/jobengine/jobs/" .. j[1] .. "/complete", nil,
      '{"leaseId":"' .. j[2] .. '","status":"succeeded"}')
  end
  if draining then
    finish_if_idle()
    return wrk.format("GET", "/healthz")
  end
  leasing = leasing + 1
  return wrk.format("POST", "/jobengine/jobs/lease", nil, lease_body)
end

local function failed(status, body)
  bad = bad + 1
  if first_bad == 0 then
    first_bad = status
    first_error = body:sub(1, 200):gsub("%s", " ")
  end
end

function response(status, headers, body)
  local head = body:sub(1, 9)
  if head == '{"jobs":[' then -- a lease's answer
    leasing = leasing - 1
    if status ~= 200 then return failed(status, body) end
    local id, lease = body:match('"jobId":"([^"]+)".-"leaseId":"([^"]+)"')
    if id then
      leased = leased + 1
      qtail = qtail + 1
      queue[qtail] = { id, lease }
    elseif body:find('"nextEligibleAt"', 1, true) then
      throttled = throttled + 1 -- the quota held work back: lease again
    else
      empty = empty + 1
      draining = true
    end
  elseif status == 200 and head == '{"status"' then -- GET /healthz
  elseif status == 200 and body:find('"jobId":"', 1, true) then -- a complete's answer (the job,
    completing = completing - 1 -- which begins with its payload since api/job_view.c)
    if body:find('"status":"succeeded"', 1, true) then
      completed = completed + 1
      t_last = now()
    else
      failed(status, body)
    end
  else
    -- an error envelope: from a lease or a complete, which cannot be told apart here; the
    -- run fails on any, and the thread may then not drain (wrk's -d bounds it)
    failed(status, body)
  end
  finish_if_idle()
end

function done(summary, latency, requests)
  local n = { leased = 0, completed = 0, empty = 0, throttled = 0, bad = 0 }
  local fb, fe, t0, t1 = 0, "", math.huge, 0
  for _, t in ipairs(threads) do
    for k in pairs(n) do n[k] = n[k] + t:get(k) end
    if fb == 0 and t:get("first_bad") ~= 0 then
      fb, fe = t:get("first_bad"), t:get("first_error")
    end
    local a, z = t:get("t_first"), t:get("t_last")
    if a > 0 and a < t0 then t0 = a end
    if z > t1 then t1 = z end
  end
  io.write(string.format(
    "lease_worker: leased=%d completed=%d empty=%d throttled=%d non200=%d first_non200=%d " ..
    "first_error=%s seconds=%.4f\n", n.leased, n.completed, n.empty, n.throttled, n.bad, fb,
    fe == "" and "-" or fe, (t1 > 0 and t0 < math.huge) and (t1 - t0) or 0))
end
