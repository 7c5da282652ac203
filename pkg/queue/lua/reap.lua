-- reap.lua: running → pending (recovered, the attempt stays counted) or
-- running → failed (no attempts left) for candidates whose lease expired by
-- the Redis clock. A run whose lease ended at its job's timeout (extend.lua
-- never pushes it further) is a failed run, said so, and goes to the back
-- of its line rather than the front. Any number of reapers run it at once, racing heartbeats:
-- a lease extended after the peek is no longer expired and is left alone.
-- KEYS[1] leases  KEYS[2] counts  KEYS[3] type running  KEYS[4] type limits
-- KEYS[5] failed zset  KEYS[6] seq  KEYS[7] queues set  KEYS[8] hooks zset  KEYS[9] tallies
-- KEYS[6+4i] job hash, KEYS[7+4i] lane, KEYS[8+4i] the lane's wake list,
-- KEYS[9+4i] lane types set of candidate i's queue  KEYS[9+4n+i] its events (n candidates)
-- KEYS[#KEYS] the history index
-- ARGV[1] events channel  ARGV[2] wake cap  ARGV[1+2i] candidate i id  ARGV[2+2i] its type
-- Returns {OK, number recovered, number failed, number left for the pipeline path}
local now = now_ms()
local recovered, failed, skipped = 0, 0, 0
local events, hist = {}, {}
local cands = (#ARGV - 2) / 2
for i = 1, cands do
  local jk, pk, wk, tk = KEYS[6 + 4 * i], KEYS[7 + 4 * i], KEYS[8 + 4 * i], KEYS[9 + 4 * i]
  local id = ARGV[1 + 2 * i]
  local deadline = redis.call('ZSCORE', KEYS[1], id)
  if deadline and tonumber(deadline) <= now then
    local f = redis.call('HMGET', jk, 'status', 'worker', 'attempts', 'max_retries', 'queue', 'callback_url',
      'started_at', 'timeout_ms', 'pipeline')
    local ended = tonumber(f[3] or '0') > tonumber(f[4] or DEFAULT_MAX_RETRIES)
    if f[1] ~= 'running' then
      redis.call('ZREM', KEYS[1], id) -- not a run: nothing else to undo
    elseif ended and f[9] then
      -- A job of a pipeline out of attempts fails with the jobs below it
      -- (pipeline_fail.lua, chosen by the caller): never here alone.
      skipped = skipped + 1
    else
      end_run(jk, id, KEYS[1], KEYS[3], KEYS[4], wk, ARGV[2])
      local why = 'lease expired: worker ' .. (f[2] or '?') .. ' stopped heartbeating'
      local timed_out = f[8] and f[7] and tonumber(f[7]) + tonumber(f[8]) <= now
      if timed_out then -- its lease ended at its timeout: a failed run, not a lost worker
        why = 'timed out after ' .. (tonumber(f[8]) / 1000) .. 's (no result from worker ' .. (f[2] or '?') .. ')'
        redis.call('HINCRBY', KEYS[9], 'timed_out', 1)
      end
      if ended then
        redis.call('HSET', jk, 'status', 'failed', 'error', why .. '; no attempts left',
          'step', 'Job failed', 'completed_at', int(now))
        redis.call('ZADD', KEYS[5], int(now), id)
        move_count(KEYS[2], 'running', 'failed')
        failed = failed + 1
        hist_add(hist, f[5] or DEFAULT_QUEUE, ARGV[2 + 2 * i], 'f')
      else
        redis.call('HSET', jk, 'status', 'pending', 'error', why)
        enqueue(pk, tk, ARGV[2 + 2 * i], KEYS[6], wk, ARGV[2], jk, id, not timed_out)
        -- The queue may have been forgotten while the job ran.
        redis.call('SADD', KEYS[7], redis.call('HGET', jk, 'queue') or DEFAULT_QUEUE)
        move_count(KEYS[2], 'running', 'pending')
        recovered = recovered + 1
        hist_add(hist, f[5] or DEFAULT_QUEUE, ARGV[2 + 2 * i], 'r')
      end
      local version = touch(jk, now)
      if ended and f[6] then set_hook(jk, KEYS[8], id, version, now) end
      add_job_event_kept(events, id, jk, KEYS[9 + 4 * cands + i])
    end
  end
end
publish_events(ARGV[1], events)
hist_write(hist, KEYS[#KEYS], now)
return {OK, recovered, failed, skipped}
