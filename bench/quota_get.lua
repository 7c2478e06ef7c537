-- bench/quota_get.lua: wrk script for GET on keep-alive connections, used by quota_bench.sh
-- both for GET /jobengine/quotas/{id} (with the bearer token) and for nginx's static peer (the
-- same headers, which nginx ignores), so both sides pay the same client cost.
--   QUOTA_BENCH_TOKEN  the bearer token (optional: no Authorization header when unset)
-- By default there is no response() callback: it would make wrk parse every response into
-- Lua and slow the client down on a machine whose cores the server shares. wrk itself counts
-- non-2xx responses ("Non-2xx or 3xx responses: N"), which quota_bench.sh requires to be 0.

local token = os.getenv("QUOTA_BENCH_TOKEN")

wrk.method = "GET"
wrk.headers["Accept"] = "application/json"
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- QUOTA_BENCH_PARSE=1: parse every response the way quota_acquire.lua does (a response()
-- callback with string.match on the body), so that nginx's peer run of the acquire benchmark
-- costs the client what the acquire run costs it. Non-2xx are still counted by wrk.
if os.getenv("QUOTA_BENCH_PARSE") == "1" then
  matched = 0
  function response(status, headers, body)
    if string.match(body, '"permitId"%s*:%s*"([^"]+)"') then matched = matched + 1 end
  end
end
