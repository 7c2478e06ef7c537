-- bench/audit_token.lua: wrk script for the cheapest request that appends exactly one durable
-- audit entry: POST /token by an authenticated client (HTTP Basic) asking for orch:quota
-- without the quota_reason it requires. The Authority refuses it (400 invalid_request) before
-- signing anything, and audits the refusal as authority.client_credentials.grant in the client's
-- tenant chain; the reply waits for that entry's commit. audit_bench.sh passes:
--   AUDIT_BENCH_AUTH   the whole Authorization header value, "Basic <base64(id:secret)>"
-- done() prints
--   audit_token: responses=N refused=N other=N first_other=STATUS
-- (refused: 400 answers naming quota_reason, the expected ones; other must be 0).

local auth = os.getenv("AUDIT_BENCH_AUTH")
if not auth or auth == "" then
  error("audit_token.lua: set AUDIT_BENCH_AUTH to \"Basic <base64(client_id:secret)>\"")
end

wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=orch%3Aquota"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = auth
wrk.headers["Accept"] = "application/json"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

refused, other, first_other = 0, 0, 0

function response(status, headers, body)
  if status == 400 and body:find("quota_reason", 1, true) then
    refused = refused + 1
  else
    other = other + 1
    if first_other == 0 then first_other = status end
  end
end

function done(summary, latency, requests)
  local n_ref, n_other, first = 0, 0, 0
  for _, t in ipairs(threads) do
    n_ref = n_ref + t:get("refused")
    n_other = n_other + t:get("other")
    local f = t:get("first_other")
    if first == 0 and f ~= 0 then first = f end
  end
  io.write(string.format("audit_token: responses=%d refused=%d other=%d first_other=%d\n",
    n_ref + n_other, n_ref, n_other, first))
end
