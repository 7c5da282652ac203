-- pipeline_lib.lua: helpers of the pipeline scripts (pipeline_*.lua),
-- prepended to each of them after lib.lua by scripts.go; the other
-- scripts never see them.
--
-- A pipeline's hash counts its jobs ('jobs') and those that ended
-- ('completed', 'failed', 'cancelled'); every script that ends or
-- restarts a job of a pipeline moves these counters in the same step,
-- then settles the pipeline's status on them (pipe_settle). 'restarts'
-- counts the restarts of jobs of it (pipe_as_submitted).

-- job_list is the key of a pipeline job's events list (what =
-- 'jobevents') or log list ('log'), named from its hash's key as keys.go
-- names them (tag:job:<id>, tag:jobevents:<id>, tag:log:<id>): a pipeline
-- script takes many jobs' hashes at once, and their lists share their slot.
local function job_list(jobkey, id, what)
  return jobkey:sub(1, #jobkey - #id - 4) .. what .. ':' .. id
end

-- pipe_read reads what pipe_settle needs of a pipeline's hash: status,
-- jobs, completed, failed, cancelled, callback_url, version.
local function pipe_read(pk)
  return redis.call('HMGET', pk, 'status', 'jobs', 'completed', 'failed', 'cancelled', 'callback_url',
    'version')
end

-- pipe_as_submitted reads from a pipeline's hash whether each of its
-- waiting jobs is as pipeline_submit.lua made it (status waiting, version
-- 1, never run) and a completion is told its children's priorities
-- (layout 2: its parents' lists of children hold them; 3: its graph
-- does): no job of it failed or was cancelled (the only ways out of
-- waiting but a release) and none was restarted (the only way back). A
-- pipeline gone has no layout. (Four fields: each field a script reads
-- costs it a string to make.)
local function pipe_as_submitted(pk)
  local f = redis.call('HMGET', pk, 'layout', 'restarts', 'failed', 'cancelled')
  return (f[1] == '2' or f[1] == '3') and not f[2] and (f[3] or '0') == '0' and (f[4] or '0') == '0'
end

-- pipe_settle derives the pipeline's status from its counters: running
-- while a job has not ended, then failed if any failed, else cancelled if
-- any was cancelled, else completed. A change is stamped (version,
-- completed_at), indexed in the set of ended pipelines (retention) and
-- published as an event that names the pipeline as its job_id (so the
-- subscribers of the pipeline's id get it) and as its pipeline_id; with
-- buf (lib.lua: add_event's), added to the call's one message instead;
-- with buf false, not made (no one watches: lib.lua watched). An
-- end of a pipeline with a callback URL gives it its delivery (set_hook)
-- in the hooks set hooks, as 'pipeline:<id>' (deliveries.go); hooks is
-- nil where no end can come (a restart). f is the pipeline's fields as
-- pipe_read reads them, counters already moved by the caller (nil: read
-- here), and more fields the caller writes with a change (a counter).
-- Returns whether it changed the status (and wrote more).
local function pipe_settle(pk, pdone, channel, pid, now, hooks, buf, f, more)
  f = f or pipe_read(pk)
  if not f[1] then return false end
  local ended = tonumber(f[3] or '0') + tonumber(f[4] or '0') + tonumber(f[5] or '0')
  local st = 'running'
  if ended >= tonumber(f[2]) then
    if tonumber(f[4] or '0') > 0 then st = 'failed'
    elseif tonumber(f[5] or '0') > 0 then st = 'cancelled'
    else st = 'completed' end
  end
  if st == f[1] then return false end
  local now_s = int(now)
  local v = int(tonumber(f[7] or '0') + 1)
  local h = more or {}
  for _, x in ipairs({'status', st, 'updated_at', now_s, 'version', v}) do h[#h + 1] = x end
  if st == 'running' then
    redis.call('HSET', pk, unpack(h))
    redis.call('HDEL', pk, 'completed_at')
    redis.call('ZREM', pdone, pid)
  else
    h[#h + 1] = 'completed_at'; h[#h + 1] = now_s
    redis.call('HSET', pk, unpack(h))
    redis.call('ZADD', pdone, now_s, pid)
    if hooks and f[6] then set_hook(pk, hooks, pid, v, now, 'pipeline:' .. pid) end
  end
  if buf == false then return true end -- no one watches (lib.lua watched)
  local ev = {'{"job_id":"' .. pid .. '","pipeline_id":"' .. pid .. '","status":"' .. st ..
    '","progress":0,"current_step":"","version":' .. v .. ',"updated_at":' .. now_s .. ',"type":"","queue":""}'}
  if buf then buf[#buf + 1] = ev[1] else publish_events(channel, ev) end
  return true
end

-- lanes_put puts jobs in their lanes (lanes: a list of {key, wake,
-- types, typ, ids, prios}, n jobs in all), each at its priority and with
-- one number of the sequence, which orders jobs of equal priority (FIFO):
-- one ZADD, SADD and wake per lane, whatever its number of jobs.
local function lanes_put(lanes, n, seqkey, cap)
  if n == 0 then return end
  local seq = redis.call('INCRBY', seqkey, n) - n
  for _, l in ipairs(lanes) do
    for i = 1, #l.ids, 1000 do -- unpack takes a few thousand arguments at most
      local z = {}
      for j = i, math.min(i + 999, #l.ids) do
        seq = seq + 1
        z[#z + 1] = int(pending_score(l.prios[j], seq))
        z[#z + 1] = l.ids[j]
      end
      redis.call('ZADD', l.key, unpack(z))
    end
    redis.call('SADD', l.types, l.typ)
    wake(l.wake, cap, #l.ids)
  end
end

-- cancel_below cancels a waiting job because an ancestor ended without
-- completing (why names it). Only a waiting job can be below an
-- unfinished one (a job leaves waiting when its last parent completes),
-- so any other state is left as it is; a callback URL gets its delivery
-- (set_hook, in hooks). Returns 1 if it cancelled the job.
local function cancel_below(jk, id, waitkey, cancelled, counts, why, now, events, hooks)
  local f = redis.call('HMGET', jk, 'status', 'callback_url')
  if f[1] ~= 'waiting' then return 0 end
  redis.call('ZREM', waitkey, id)
  redis.call('HDEL', jk, 'waits')
  redis.call('HSET', jk, 'status', 'cancelled', 'step', 'Job cancelled', 'error', why,
    'completed_at', int(now))
  redis.call('ZADD', cancelled, int(now), id)
  move_count(counts, 'waiting', 'cancelled')
  local version = touch(jk, now)
  if f[2] then set_hook(jk, hooks, id, version, now) end
  add_job_event_kept(events, id, jk, job_list(jk, id, 'jobevents'))
  return 1
end
