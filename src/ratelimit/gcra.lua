-- One GCRA step for one bucket, atomically. Mirrors `step` in gcra.rs.
--
-- KEYS[1]  the bucket; its value is the TAT in microseconds on Redis's clock
-- ARGV[1]  emission interval, microseconds (>= 1)
-- ARGV[2]  burst (>= 1)
-- Returns {allowed (1 or 0), microseconds from now to the TAT after this step}.
--
-- The clock is Redis's own TIME, so processes whose clocks disagree still
-- share one budget. Returning the TAT relative to now keeps our clocks out of
-- the answer as well.

-- Redis < 5 refuses a write after a non-deterministic command (TIME) unless
-- the script replicates its effects; from Redis 5 on this is the default.
if redis.replicate_commands then
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local period = interval * tonumber(ARGV[2])

local start = now
local stored = tonumber(redis.call('GET', KEYS[1]))
if stored and stored > now then
  start = stored
end

local next_tat = start + interval
if next_tat - now > period then
  return {0, start - now}
end

-- The bucket is full again at its TAT, and a missing bucket reads as full,
-- so the key can expire then. '%.0f' because tostring() would print a
-- microsecond timestamp in exponent form and lose precision.
local ttl_ms = math.ceil((next_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, next_tat - now}
