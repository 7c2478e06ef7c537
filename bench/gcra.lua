-- bench/gcra.lua: the Redis peer of one quota decision (quota_bench.sh loads it with SCRIPT LOAD
-- and runs it with EVALSHA under redis-benchmark). A token bucket as GCRA (generic cell rate
-- algorithm): one theoretical arrival time (tat) per key instead of a token count.
--
--   EVALSHA <sha> 1 KEY EMISSION_US BURST
--     KEY          a hash holding tat (µs since the epoch) and the grants/denials counters
--     EMISSION_US  microseconds between two units at the sustained rate (1e6 / refillPerSecond),
--                  a whole number >= 1
--     BURST        how many units may go back to back (burstCapacity), >= 1
--   returns {1, remaining} when granted, {0, retry_after_us} when denied
--
-- Per decision it reads the state, decides with the server's clock (TIME), and writes the new
-- tat and one counter: the same read-decide-write of one quota row that JobEngine's acquire does
-- (which also counts grants per hour and throttled denials). With `appendonly yes` and
-- `appendfsync always` the write is in the AOF, fsync'd, before the reply is sent.
local key = KEYS[1]
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
if not emission or emission < 1 or not burst or burst < 1 then
  return redis.error_reply("gcra.lua: EMISSION_US and BURST must be numbers >= 1")
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- The delay variation tolerance: how far ahead of now tat may run and still grant.
local tolerance = emission * (burst - 1)

local tat = tonumber(redis.call('HGET', key, 'tat'))
if not tat or tat < now then tat = now end

if tat - now <= tolerance then
  local new_tat = tat + emission
  redis.call('HSET', key, 'tat', string.format('%d', new_tat))
  redis.call('HINCRBY', key, 'grants', 1)
  return {1, math.floor((tolerance - (new_tat - now)) / emission) + 1}
end
redis.call('HINCRBY', key, 'denials', 1)
return {0, tat - tolerance - now}
