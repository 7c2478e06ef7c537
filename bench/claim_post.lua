-- bench/claim_post.lua: wrk script for POST /jobengine/dedup/claim, each call claiming
-- CLAIM_BENCH_BATCH (1,000) events for one live (leased) job. claim_bench.sh passes:
--   CLAIM_BENCH_TOKEN    bearer token with orch:jobs
--   CLAIM_BENCH_SOURCE   the job's sourceId            CLAIM_BENCH_JOB   the job's id
--   CLAIM_BENCH_MODE     new: keys never seen, each call its own 1,000 (all must come back new)
--                        dup: 1,000 consecutive keys from a random place among the processed
--                        events already in the ledger (all must come back duplicates)
--   CLAIM_BENCH_BASE     new: the first key number (keys "evt-%08d"); calls of every thread
--                        take disjoint ranges from there
--   CLAIM_BENCH_EVENTS   dup: how many processed events the ledger holds (keys 0 to N-1)
--   CLAIM_BENCH_START_MS the ledger's newest event time (new keys' times grow from there)
--   CLAIM_BENCH_DAYS     dup: the days the processed events' times span
--   CLAIM_BENCH_BATCH    events per call (default 1000)
--   CLAIM_BENCH_THREADS  wrk's -t
-- done() prints
--   claim_post: mode=M calls=N ok=N wrong=N non200=N first_non200=S first_error=BODY
--               seconds=S events=N
-- (wrong: a 200 whose answer was not all new / all duplicates; events: events of the ok calls).

local token = os.getenv("CLAIM_BENCH_TOKEN") or error("set CLAIM_BENCH_TOKEN")
local source = os.getenv("CLAIM_BENCH_SOURCE") or error("set CLAIM_BENCH_SOURCE")
local job = os.getenv("CLAIM_BENCH_JOB") or error("set CLAIM_BENCH_JOB")
local mode = os.getenv("CLAIM_BENCH_MODE") or "new"
local base = tonumber(os.getenv("CLAIM_BENCH_BASE") or "10000000")
local events = tonumber(os.getenv("CLAIM_BENCH_EVENTS") or "10000000")
local start_ms = tonumber(os.getenv("CLAIM_BENCH_START_MS") or "0")
local days = tonumber(os.getenv("CLAIM_BENCH_DAYS") or "30")
local batch = tonumber(os.getenv("CLAIM_BENCH_BATCH") or "1000")
local nthreads = tonumber(os.getenv("CLAIM_BENCH_THREADS") or "2")
if mode ~= "new" and mode ~= "dup" then error("CLAIM_BENCH_MODE must be new or dup") end

wrk.method = "POST"
wrk.path = "/jobengine/dedup/claim"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"

local threads, next_tid = {}, 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

calls, ok, wrong, bad, first_bad, first_error = 0, 0, 0, 0, 0, ""
local span_ms = days * 86400000
local first_ms = start_ms - span_ms

function init(args)
  math.randomseed(os.time() + tid * 7919)
end

local function iso(ms)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(ms / 1000)) ..
      string.format(".%03dZ", ms % 1000)
end

local prefix = '{"sourceId":"' .. source .. '","jobId":"' .. job .. '","events":['

function request()
  local parts, first = {}, 0
  if mode == "new" then
    first = base + (calls * nthreads + tid) * batch
    for i = 0, batch - 1 do
      local k = first + i
      parts[i + 1] = string.format('{"eventKey":"evt-%08d","eventTime":"%s"}', k,
        iso(start_ms + (k - base)))
    end
  else
    first = math.random(0, events - batch)
    for i = 0, batch - 1 do
      local k = first + i
      parts[i + 1] = string.format('{"eventKey":"evt-%08d","eventTime":"%s"}', k,
        iso(first_ms + math.floor(k * span_ms / events)))
    end
  end
  calls = calls + 1
  return wrk.format(nil, nil, nil, prefix .. table.concat(parts, ",") .. "]}")
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if first_bad == 0 then
      first_bad = status
      first_error = body:sub(1, 200):gsub("%s", " ")
    end
  elseif body:find(mode == "new" and '"duplicates":[]' or '"new":[]', 1, true) then
    ok = ok + 1
  else
    wrong = wrong + 1
    if first_error == "" then first_error = body:sub(1, 200):gsub("%s", " ") end
  end
end

function done(summary, latency, requests)
  local n = { calls = 0, ok = 0, wrong = 0, bad = 0 }
  local fb, fe = 0, ""
  for _, t in ipairs(threads) do
    for k in pairs(n) do n[k] = n[k] + t:get(k) end
    if fb == 0 and t:get("first_bad") ~= 0 then fb = t:get("first_bad") end
    if fe == "" then fe = t:get("first_error") end
  end
  io.write(string.format(
    "claim_post: mode=%s calls=%d ok=%d wrong=%d non200=%d first_non200=%d first_error=%s " ..
    "seconds=%.3f events=%d\n", mode, n.calls, n.ok, n.wrong, n.bad, fb, fe == "" and "-" or fe,
    summary.duration / 1e6, n.ok * batch))
end
