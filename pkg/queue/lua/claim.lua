-- claim.lua: pending → running for up to ARGV[2] of the candidates, in order.
-- Candidates were peeked from the pending sets without a lock; each is
-- taken only if it is still pending and its type is under its fleet-wide
-- concurrency limit, so concurrent claimers never take one job twice.
-- KEYS[1] leases  KEYS[2] counts  KEYS[3] type running  KEYS[4] type limits
-- KEYS[3+2i] job hash of candidate i   KEYS[4+2i] pending zset holding it
-- ARGV[1] worker id  ARGV[2] max jobs  ARGV[3] lease ms  ARGV[4] events channel
-- ARGV[3+2i] candidate i id            ARGV[4+2i] run token for it
-- Returns {OK, {id, field, value, ...}, ...}: one row per job taken.
local out = {OK}
local want = tonumber(ARGV[2])
local now = now_ms()
local deadline = int(now + tonumber(ARGV[3]))
for i = 1, (#KEYS - 4) / 2 do
  if #out > want then break end
  local jk, pk = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local id, token = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
  if redis.call('ZSCORE', pk, id) then
    local f = redis.call('HMGET', jk, 'status', 'type')
    local limit = f[1] == 'pending' and redis.call('HGET', KEYS[4], f[2])
    if f[1] == 'pending' and (not limit or
        tonumber(redis.call('HGET', KEYS[3], f[2]) or '0') < tonumber(limit)) then
      redis.call('ZREM', pk, id)
      redis.call('HSET', jk, 'status', 'running', 'token', token,
        'worker', ARGV[1], 'started_at', int(now))
      redis.call('HDEL', jk, 'progress', 'step')
      redis.call('HINCRBY', jk, 'attempts', 1)
      redis.call('ZADD', KEYS[1], deadline, id)
      redis.call('HINCRBY', KEYS[3], f[2], 1)
      move_count(KEYS[2], 'pending', 'running')
      touch(jk, now)
      publish(ARGV[4], id, jk)
      local row = redis.call('HGETALL', jk)
      table.insert(row, 1, id)
      out[#out + 1] = row
    end
  end
end
return out
