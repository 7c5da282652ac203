-- requeue.lua: running → pending without charging the attempt, for a run
-- its worker stopped on graceful shutdown.
-- KEYS[1] job hash  KEYS[2] leases  KEYS[3] counts  KEYS[4] type running
-- KEYS[5] type limits  KEYS[6] wake list of the lane  KEYS[7] the job's lane  KEYS[8] seq
-- KEYS[9] queues set  KEYS[10] the queue's lane types set  KEYS[11] history
-- ARGV[1] id  ARGV[2] run token  ARGV[3] events channel  ARGV[4] wake cap
-- ARGV[5] the job's queue  ARGV[6] its type
-- Returns {OK} | {NOT_FOUND} | {LEASE_LOST, status}
local bad = check_run(KEYS[1], ARGV[2])
if bad then return bad end
end_run(KEYS[1], ARGV[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[4])
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
redis.call('HSET', KEYS[1], 'status', 'pending', 'step', 'Requeued: worker shut down')
redis.call('HDEL', KEYS[1], 'progress', 'started_at')
enqueue(KEYS[7], KEYS[10], ARGV[6], KEYS[8], KEYS[6], ARGV[4], KEYS[1], ARGV[1], true)
redis.call('SADD', KEYS[9], ARGV[5]) -- forgotten while the job ran, maybe
move_count(KEYS[3], 'running', 'pending')
touch(KEYS[1], now_ms())
publish_kept(ARGV[3], ARGV[1], KEYS[1], KEYS[11])
return {OK}
