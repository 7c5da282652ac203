-- ratelimit.lua: takes one request from a caller's budget (GCRA: the
-- generic cell rate algorithm). The key holds the caller's "theoretical
-- arrival time" in ms; a request is allowed when that time, pushed on by
-- one emission interval, is no more than the burst ahead of now. Every API
-- instance shares the budget, and the server's clock decides.
-- KEYS[1] the caller's rate key
-- ARGV[1] emission interval ms (period / rate)   ARGV[2] burst (>= 1)
-- Returns {OK, allowed (1|0), remaining, retry after ms}.
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = now_ms()
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + emission
local allow_at = new_tat - emission * burst
if now < allow_at then
  return {OK, 0, 0, math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], int(new_tat), 'PX', int(math.ceil(new_tat - now)))
local remaining = math.floor((now - allow_at) / emission)
return {OK, 1, remaining, 0}
