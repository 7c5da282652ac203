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
-- ARGV[1] events channel  ARGV[2] wake cap  ARGV[3] the watch channel
-- (lib.lua watched)
-- ARGV[3i+1] id of run i  ARGV[3i+2] its run token  ARGV[3i+3] its result JSON ('' for none)
-- Returns {OK, r1, r2, ...} where ri is {OK} | {NOT_FOUND} | {LEASE_LOST, status}.
local now = now_ms()
local c = {out = {OK}, done = {}, finished = {}, types = {}, events = {}, hist = {}, now = now, now_s = int(now),
  watched = watched(ARGV[1], ARGV[3])}
for i = 1, (#ARGV - 3) / 3 do
  complete_run(c, KEYS[5 + 2 * i], KEYS[6 + 2 * i], ARGV[3 * i + 1], ARGV[3 * i + 2], ARGV[3 * i + 3], KEYS[6])
end
if #c.done > 0 then
  complete_end(c, KEYS[1], KEYS[5], KEYS[3], KEYS[4], KEYS[2], ARGV[2])
  publish_events(ARGV[1], c.events)
  hist_write(c.hist, KEYS[#KEYS], now)
end
return c.out
