-- bench/lease_submit.lua: wrk script that submits exactly LEASE_BENCH_JOBS jobs
-- (POST /jobengine/jobs) on keep-alive connections, then stops. lease_bench.sh passes:
--   LEASE_BENCH_TOKEN     bearer token with orch:jobs
--   LEASE_BENCH_JOBTYPE   the job type to submit
--   LEASE_BENCH_JOBS      how many jobs, in all (split between wrk threads)
--   LEASE_BENCH_THREADS   wrk's -t (to split the jobs)
--   LEASE_BENCH_DONE_DIR  each thread creates submit.done.<thread> there when it has all its
--                         answers; lease_bench.sh then stops wrk (SIGINT) without waiting for -d
-- A thread that has sent its share keeps its connections busy with GET /healthz (wrk always
-- wants a next request) until every answer is in. done() prints
--   lease_submit: sent=N created=N non201=N first_non201=STATUS seconds=S
-- where seconds runs from the first request to the last 201 (CLOCK_MONOTONIC, via LuaJIT FFI).

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
local total = tonumber(os.getenv("LEASE_BENCH_JOBS") or "10000")
local nthreads = tonumber(os.getenv("LEASE_BENCH_THREADS") or "2")
local done_dir = os.getenv("LEASE_BENCH_DONE_DIR") or error("set LEASE_BENCH_DONE_DIR")

wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"

-- main state: hand each thread its index and share
local threads, next_tid = {}, 0
function setup(thread)
  thread:set("tid", next_tid)
  thread:set("budget", math.floor(total / nthreads) + ((next_tid < total % nthreads) and 1 or 0))
  -- wrk 4.1 calls request() once on thread 0's state before the thread starts, only to check
  -- that it parses; that request is never sent and must not be counted
  thread:set("probe", next_tid == 0)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

-- thread state (tid, budget, probe are set by setup)
sent, created, bad, first_bad, answered = 0, 0, 0, 0, 0
t_first, t_last = 0, 0
local finished = false

local function submit_request(n)
  return wrk.format("POST", "/jobengine/jobs", nil,
    string.format('{"jobType":"%s","payload":{"thread":%d,"n":%d}}', job_type, tid, n))
end

function request()
  if probe then
    probe = false
    return submit_request(0)
  end
  if t_first == 0 then t_first = now() end
  if sent < budget then
    sent = sent + 1
    return submit_request(sent)
  end
  return wrk.format("GET", "/healthz")
end

function response(status, headers, body)
  if body:sub(1, 10) == '{"status":' and status == 200 then return end -- /healthz
  answered = answered + 1
  if status == 201 then
    created = created + 1
    t_last = now()
  else
    bad = bad + 1
    if first_bad == 0 then first_bad = status end
  end
  if answered >= budget and not finished then
    finished = true
    local f = io.open(done_dir .. "/submit.done." .. tid, "w")
    if f then f:close() end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local s, c, b, fb, t0, t1 = 0, 0, 0, 0, math.huge, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    c = c + t:get("created")
    b = b + t:get("bad")
    if fb == 0 and t:get("first_bad") ~= 0 then fb = t:get("first_bad") end
    local a, z = t:get("t_first"), t:get("t_last")
    if a > 0 and a < t0 then t0 = a end
    if z > t1 then t1 = z end
  end
  io.write(string.format("lease_submit: sent=%d created=%d non201=%d first_non201=%d seconds=%.4f\n",
    s, c, b, fb, (t1 > 0 and t0 < math.huge) and (t1 - t0) or 0))
end
