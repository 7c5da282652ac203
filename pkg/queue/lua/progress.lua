-- progress.lua: the progress and current step of several running jobs at
-- once; each write also extends its run's lease, and is refused
-- (LEASE_LOST) once the run no longer holds the job, which tells the
-- worker to stop the handler. A lease never goes past the job's timeout.
-- (Hot path: a worker writes every report that came in meanwhile in one
-- call; each job is read once and written once, and the leases and the
-- events are written once per call.)
-- KEYS[1] leases
-- KEYS[1+i] job hash of report i  KEYS[1+n+i] its job's history (n reports)
-- ARGV[1] lease ms  ARGV[2] events channel  ARGV[3] the watch channel
-- (lib.lua watched)
-- ARGV[4i] id of report i  ARGV[4i+1] its run token  ARGV[4i+2] percent
--   (a JSON number)  ARGV[4i+3] step
-- Returns {OK, r1, r2, ...} where ri is {OK} | {NOT_FOUND} | {LEASE_LOST, status}.
local out = {OK}
local reports = (#ARGV - 3) / 4
local ok_row = {OK}
local now = now_ms()
local now_s = int(now)
local deadline = int(now + tonumber(ARGV[1]))
local leases, events, seen = {}, {}, watched(ARGV[2], ARGV[3])
for i = 1, reports do
  local jk = KEYS[1 + i]
  local id, token, percent, step = ARGV[4 * i], ARGV[4 * i + 1], ARGV[4 * i + 2], ARGV[4 * i + 3]
  local f = redis.call('HMGET', jk, 'status', 'token', 'version', 'type', 'queue', 'started_at', 'timeout_ms', CLAIM_EVENT)
  if not f[1] then
    out[#out + 1] = {NOT_FOUND}
  elseif f[1] ~= 'running' or f[2] ~= token then
    out[#out + 1] = {LEASE_LOST, f[1]}
  else
    local version = plus_one(f[3])
    if f[8] and f[8] ~= '' then -- the claim's event goes first (lib.lua CLAIM_EVENT)
      redis.call('HSET', jk, 'progress', percent, 'step', step, 'updated_at', now_s, 'version', version,
        CLAIM_EVENT, '')
    else
      redis.call('HSET', jk, 'progress', percent, 'step', step, 'updated_at', now_s, 'version', version)
    end
    leases[#leases + 1] = run_lease(deadline, f[6], f[7])
    leases[#leases + 1] = id
    local jstep = cjson.encode(step)
    if seen then add_event(events, id, 'running', percent, jstep, version, now_s, f[4], f[5] or DEFAULT_QUEUE) end
    add_history(KEYS[1 + reports + i], false, version, 'running', percent, jstep, now_s, f[8])
    out[#out + 1] = ok_row
  end
end
if #leases > 0 then
  redis.call('ZADD', KEYS[1], unpack(leases))
  publish_events(ARGV[2], events)
end
return out
