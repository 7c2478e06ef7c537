-- bench/token_post.lua: wrk script for POST /token, the client-credentials grant, on
-- keep-alive connections. token_bench.sh passes the client in the environment:
--   TOKEN_BENCH_AUTH   the whole Authorization header value, "Basic <base64(id:secret)>"
--   TOKEN_BENCH_SCOPE  the scope asked for (default orch:read)
-- Every response's status is checked: done() prints one line
--   token_post: responses=N ok=N non200=N first_non200=STATUS
-- which token_bench.sh parses (non200 must be 0).

local auth = os.getenv("TOKEN_BENCH_AUTH")
if not auth or auth == "" then
  error("token_post.lua: set TOKEN_BENCH_AUTH to \"Basic <base64(client_id:secret)>\"")
end
local scope = os.getenv("TOKEN_BENCH_SCOPE") or "orch:read"

wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=" .. scope:gsub(" ", "+")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = auth
wrk.headers["Accept"] = "application/json"

-- Per-thread counters (each wrk thread has its own Lua state); done() sums them.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

ok, bad, first_bad = 0, 0, 0

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == 0 then first_bad = status end
  end
end

function done(summary, latency, requests)
  local n_ok, n_bad, first = 0, 0, 0
  for _, t in ipairs(threads) do
    n_ok = n_ok + t:get("ok")
    n_bad = n_bad + t:get("bad")
    local f = t:get("first_bad")
    if first == 0 and f ~= 0 then first = f end
  end
  io.write(string.format("token_post: responses=%d ok=%d non200=%d first_non200=%d\n",
                         n_ok + n_bad, n_ok, n_bad, first))
end
