-- claim.lua: pending → running for up to ARGV[2] of the candidates, in order.
-- Candidates were peeked from the pending sets without a lock; each is
-- taken only if it is still pending and its type is under its fleet-wide
-- concurrency limit, so concurrent claimers never take one job twice.
-- (Hot path: each job is read once and written once; the leases, the
-- pending sets, the counters and the events are written once per call.)
-- KEYS[1] leases  KEYS[2] counts  KEYS[3] type running  KEYS[4] type limits
-- KEYS[3+2i] job hash of candidate i   KEYS[4+2i] pending zset holding it
-- ARGV[1] worker id  ARGV[2] max jobs  ARGV[3] lease ms  ARGV[4] events channel
-- ARGV[3+2i] candidate i id            ARGV[4+2i] run token for it
-- Returns {OK, {id, field, value, ...}, ...}: one row per job taken.
local out = {OK}
local want = tonumber(ARGV[2])
local now = now_ms()
local now_s = int(now)
local deadline = int(now + tonumber(ARGV[3]))
local limits, running, taken = {}, {}, {} -- per type, read at most once
local leases, removed, events = {}, {}, {}
for i = 1, (#KEYS - 4) / 2 do
  if #out > want then break end
  local jk, pk = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local id, token = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
  if redis.call('ZSCORE', pk, id) then
    local row = redis.call('HGETALL', jk)
    local h = {}
    for k = 1, #row, 2 do h[row[k]] = row[k + 1] end
    local typ = h.type
    if h.status == 'pending' then
      if limits[typ] == nil then
        limits[typ] = tonumber(redis.call('HGET', KEYS[4], typ) or '-1')
        running[typ] = tonumber(redis.call('HGET', KEYS[3], typ) or '0')
      end
      if limits[typ] < 0 or running[typ] < limits[typ] then
        running[typ] = running[typ] + 1
        taken[typ] = (taken[typ] or 0) + 1
        local version = int(h.version + 1)
        local attempts = int((h.attempts or 0) + 1)
        redis.call('HSET', jk, 'status', 'running', 'token', token, 'worker', ARGV[1],
          'started_at', now_s, 'attempts', attempts, 'updated_at', now_s, 'version', version)
        if h.progress or h.step then redis.call('HDEL', jk, 'progress', 'step') end
        leases[#leases + 1] = deadline
        leases[#leases + 1] = id
        removed[pk] = removed[pk] or {}
        table.insert(removed[pk], id)
        events[#events + 1] = event_json(id, 'running', '0', '', version, now_s, typ,
          h.queue or DEFAULT_QUEUE)
        h.status, h.token, h.worker, h.started_at, h.attempts, h.updated_at, h.version,
          h.progress, h.step = 'running', token, ARGV[1], now_s, attempts, now_s, version, nil, nil
        local taken_row = {id}
        for k, v in pairs(h) do
          taken_row[#taken_row + 1] = k
          taken_row[#taken_row + 1] = v
        end
        out[#out + 1] = taken_row
      end
    end
  end
end
if #out > 1 then
  redis.call('ZADD', KEYS[1], unpack(leases))
  for pk, ids in pairs(removed) do redis.call('ZREM', pk, unpack(ids)) end
  for typ, n in pairs(taken) do redis.call('HINCRBY', KEYS[3], typ, n) end
  redis.call('HINCRBY', KEYS[2], 'pending', -(#out - 1))
  redis.call('HINCRBY', KEYS[2], 'running', #out - 1)
  publish_events(ARGV[4], events)
end
return out
