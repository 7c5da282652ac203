-- complete.lua: running → completed for several runs at once, each only
-- if its run still holds the lease; the others are refused one by one. A
-- completed job keeps its run's token, so that the same run completing it
-- again (a client retrying after a lost answer) is answered OK and
-- changes nothing.
-- (Hot path: a worker acknowledges every run that finished meanwhile in
-- one call; each job is read once and written once, and the leases, the
-- finished set, the counters and the events are written once per call.)
-- KEYS[1] leases  KEYS[2] counts  KEYS[3] type running  KEYS[4] type limits
-- KEYS[5] completed zset  KEYS[6] hooks zset (callbacks to deliver)
-- KEYS[5+2i] job hash of run i   KEYS[6+2i] wake list of its lane
-- KEYS[#KEYS] the history index (lib.lua: hist_write)
-- (No push to the job's kept events: a completed job's record is its
-- last event, lib.lua CLAIM_EVENT.)
-- ARGV[1] events channel  ARGV[2] wake cap
-- ARGV[3i] id of run i  ARGV[3i+1] its run token  ARGV[3i+2] its result JSON ('' for none)
-- Returns {OK, r1, r2, ...} where ri is {OK} | {NOT_FOUND} | {LEASE_LOST, status}.
local out = {OK}
local runs = (#ARGV - 2) / 3
local ok_row = {OK} -- one table for every run's {OK}: the reply is the same
local now = now_ms()
local now_s = int(now)
local done, finished, events, hist = {}, {}, {}, {}
local types = {} -- type → {n = runs ended, wake = {wake list = true}}
for i = 1, runs do
  local jk, wk = KEYS[5 + 2 * i], KEYS[6 + 2 * i]
  local id, token, result = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  local f = redis.call('HMGET', jk, 'status', 'token', 'type', 'queue', 'version', 'error',
    'started_at', 'callback_url')
  if not f[1] then
    out[#out + 1] = {NOT_FOUND}
  elseif f[1] == 'completed' and f[2] == token then
    out[#out + 1] = ok_row -- completed by this very run already
  elseif f[1] ~= 'running' or f[2] ~= token then
    out[#out + 1] = {LEASE_LOST, f[1]}
  else
    local version = int(f[5] + 1)
    local h = {'status', 'completed', 'progress', '100', 'step', 'Job completed successfully',
      'completed_at', now_s, 'updated_at', now_s, 'version', version}
    if result ~= '' then h[#h + 1] = 'result'; h[#h + 1] = result end
    redis.call('HSET', jk, unpack(h))
    if f[6] then redis.call('HDEL', jk, 'error') end
    if f[8] then set_hook(jk, KEYS[6], id, version, now) end
    done[#done + 1] = id
    finished[#finished + 1] = now_s
    finished[#finished + 1] = id
    local t = types[f[3]] or {n = 0, wake = {}}
    t.n = t.n + 1
    t.wake[wk] = true
    types[f[3]] = t
    add_event(events, id, 'completed', '100', '"Job completed successfully"',
      version, now_s, f[3], f[4] or DEFAULT_QUEUE)
    hist_add(hist, f[4] or DEFAULT_QUEUE, f[3], 'c', 1, 'R', now - tonumber(f[7] or now))
    out[#out + 1] = ok_row
  end
end
if #done > 0 then
  redis.call('ZREM', KEYS[1], unpack(done))
  redis.call('ZADD', KEYS[5], unpack(finished))
  for typ, t in pairs(types) do
    release_type(typ, t.n, KEYS[3], KEYS[4], t.wake, ARGV[2])
  end
  redis.call('HINCRBY', KEYS[2], 'running', -#done)
  redis.call('HINCRBY', KEYS[2], 'completed', #done)
  publish_events(ARGV[1], events)
  hist_write(hist, KEYS[#KEYS], now)
end
return out
