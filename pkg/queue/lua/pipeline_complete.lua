-- pipeline_complete.lua: running → completed for a job of a pipeline, only
-- if its run still holds the lease, and in the same step each child whose
-- last unfinished parent this was: waiting → pending (in its lane). A
-- child's count of parents it waits for drops once per completion of a
-- parent, and only a completion that changes the job moves it: a child
-- becomes pending exactly once, never before its last parent completed.
-- A completed job keeps its run's token, so that the same run completing
-- it again is answered OK and changes nothing (as complete.lua).
-- KEYS[1] job hash  KEYS[2] leases  KEYS[3] counts  KEYS[4] type running
-- KEYS[5] type limits  KEYS[6] completed zset  KEYS[7] wake list of the job's lane
-- KEYS[8] pipeline hash  KEYS[9] seq  KEYS[10] waiting zset  KEYS[11] queues set
-- KEYS[12] ended pipelines zset
-- KEYS[9+4c..12+4c], for child c: job hash, its lane, the lane's wake list, its queue's lane types set
-- ARGV[1] events channel  ARGV[2] wake cap  ARGV[3] id  ARGV[4] run token
-- ARGV[5] result JSON ('' for none)  ARGV[6] pipeline id
-- ARGV[4+3c..6+3c], for child c: id, type, queue
-- Returns {OK} | {NOT_FOUND} | {LEASE_LOST, status}
local jk, id, token = KEYS[1], ARGV[3], ARGV[4]
local f = redis.call('HMGET', jk, 'status', 'token', 'type', 'queue', 'version', 'error')
if not f[1] then return {NOT_FOUND} end
if f[1] == 'completed' and f[2] == token then return {OK} end -- completed by this very run already
if f[1] ~= 'running' or f[2] ~= token then return {LEASE_LOST, f[1]} end
local now = now_ms()
local now_s = int(now)
local version = int(f[5] + 1)
local h = {'status', 'completed', 'progress', '100', 'step', 'Job completed successfully',
  'completed_at', now_s, 'updated_at', now_s, 'version', version}
if ARGV[5] ~= '' then h[#h + 1] = 'result'; h[#h + 1] = ARGV[5] end
redis.call('HSET', jk, unpack(h))
if f[6] then redis.call('HDEL', jk, 'error') end
end_run(jk, id, KEYS[2], KEYS[4], KEYS[5], KEYS[7], ARGV[2], true)
redis.call('ZADD', KEYS[6], now_s, id)
move_count(KEYS[3], 'running', 'completed')
local events = {}
add_event(events, id, 'completed', '100', '"Job completed successfully"', version, now_s,
  f[3], f[4] or DEFAULT_QUEUE)
for c = 1, (#KEYS - 12) / 4 do
  local ck, lk, wk, tk = KEYS[9 + 4 * c], KEYS[10 + 4 * c], KEYS[11 + 4 * c], KEYS[12 + 4 * c]
  local cid, ctyp, cqueue = ARGV[4 + 3 * c], ARGV[5 + 3 * c], ARGV[6 + 3 * c]
  local left = redis.call('HINCRBY', ck, 'waits', -1)
  if left <= 0 and redis.call('HGET', ck, 'status') == 'waiting' then
    redis.call('HDEL', ck, 'waits')
    redis.call('HSET', ck, 'status', 'pending')
    redis.call('ZREM', KEYS[10], cid)
    enqueue(lk, tk, ctyp, KEYS[9], wk, ARGV[2], ck, cid)
    redis.call('SADD', KEYS[11], cqueue) -- forgotten while the child waited, maybe
    move_count(KEYS[3], 'waiting', 'pending')
    touch(ck, now)
    add_job_event(events, cid, ck)
  end
end
publish_events(ARGV[1], events)
redis.call('HINCRBY', KEYS[8], 'completed', 1)
pipe_settle(KEYS[8], KEYS[12], ARGV[1], ARGV[6], now)
return {OK}
