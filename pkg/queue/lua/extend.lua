-- extend.lua: the heartbeat of a worker's runs: pushes each lease deadline
-- out, and tells the worker which runs it no longer holds (cancelled, or
-- reaped and given to another worker) so it stops their handlers. This is
-- the durable half of cancellation: it holds even when a pub/sub message
-- was missed. A run's lease never goes past its job's timeout.
-- KEYS[1] leases   KEYS[1+i] job hash of run i
-- ARGV[1] lease ms ARGV[2i] id of run i   ARGV[2i+1] run token of run i
-- Returns {OK, r1, r2, ...} where ri is {OK} or {NOT_FOUND} or {LEASE_LOST, status}.
local out = {OK}
local deadline = int(now_ms() + tonumber(ARGV[1]))
for i = 1, #KEYS - 1 do
  local f = redis.call('HMGET', KEYS[1 + i], 'status', 'token', 'started_at', 'timeout_ms')
  if not f[1] then
    out[#out + 1] = {NOT_FOUND}
  elseif f[1] ~= 'running' or f[2] ~= ARGV[2 * i + 1] then
    out[#out + 1] = {LEASE_LOST, f[1]}
  else
    redis.call('ZADD', KEYS[1], run_lease(deadline, f[3], f[4]), ARGV[2 * i])
    out[#out + 1] = {OK}
  end
end
return out
