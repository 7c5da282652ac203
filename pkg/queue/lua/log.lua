-- log.lua: appends log lines of running jobs to their logs, each job's
-- only while its run holds the job. Every line takes the job's next
-- version as its event id, so that lines and state events share one
-- order; a log keeps its newest lines up to the bound and counts the
-- lines it let go in the job's logs_dropped field (with those the caller
-- dropped before sending, ARGV dropped).
-- (Hot path for chatty handlers: a worker writes every line of every run
-- that came in meanwhile in one call, one RPUSH per job, and the events
-- go out as one message.)
-- KEYS[i] job hash of job i  KEYS[n+i] its log (n jobs)
-- ARGV[1] events channel  ARGV[2] lines kept per job
-- then for each job: its id, its run token, lines dropped before sending,
--   the number k of its lines, and k × (level, time ms, message as a JSON string)
-- Each log entry is "<version> <level> <time ms> <message JSON>".
-- Returns {OK, r1, r2, ...} where ri is {OK} | {NOT_FOUND} | {LEASE_LOST, status}.
local out = {OK}
local ok_row = {OK}
local n = #KEYS / 2
local bound = tonumber(ARGV[2])
local events = {}
local a = 3
for i = 1, n do
  local jk, lk = KEYS[i], KEYS[n + i]
  local id, token, dropped, k = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local first = a + 4
  a = first + 3 * k
  local f = redis.call('HMGET', jk, 'status', 'token')
  if not f[1] then
    out[#out + 1] = {NOT_FOUND}
  elseif f[1] ~= 'running' or f[2] ~= token then
    out[#out + 1] = {LEASE_LOST, f[1]}
  else
    local v = redis.call('HINCRBY', jk, 'version', k) - k
    local entries = {}
    for j = 0, k - 1 do
      local level, t, msg = ARGV[first + 3 * j], ARGV[first + 3 * j + 1], ARGV[first + 3 * j + 2]
      local version = int(v + j + 1)
      entries[j + 1] = version .. ' ' .. level .. ' ' .. t .. ' ' .. msg
      add_log_event(events, id, version, level, t, msg)
    end
    local len = k > 0 and redis.call('RPUSH', lk, unpack(entries)) or 0
    if len > bound then
      redis.call('LTRIM', lk, -bound, -1)
      dropped = dropped + len - bound
    end
    if dropped > 0 then redis.call('HINCRBY', jk, 'logs_dropped', dropped) end
    out[#out + 1] = ok_row
  end
end
publish_events(ARGV[1], events)
return out
