-- lib.lua: shared helpers, prepended to every script in this folder by
-- scripts.go, so each transition file holds only its own logic. Each
-- script gets only the definitions it uses (luabuild.go): keep every
-- definition a top-level `local function NAME(...)` ending with an `end`
-- at the start of a line, or a `local NAME = ...`, below what it uses.
--
-- Return convention of every script: an array whose first element is a
-- status code, mapped to Go errors in one place (scriptError in scripts.go):
--   0 OK, 1 NOT_FOUND, 2 WRONG_STATE {2, current status},
--   3 LEASE_LOST {3, current status}, 4 DUPLICATE {4, existing job id},
--   5 QUEUE_LIMIT {5, the registry's bound}, 6 SCHEDULE_LIMIT {6, the bound}.
local OK, NOT_FOUND, WRONG_STATE, LEASE_LOST, DUPLICATE, QUEUE_LIMIT = 0, 1, 2, 3, 4, 5
local SCHEDULE_LIMIT = 6

-- A job hash stores neither its queue nor its max_retries when they are
-- the defaults (DefaultQueue and DefaultMaxRetries in submit.go; a test
-- keeps them equal): every reader of those fields falls back to these.
local DEFAULT_QUEUE, DEFAULT_MAX_RETRIES = 'default', '3'

-- now_ms is the Redis server's clock, so every host agrees on deadlines.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- int formats a number rounded to an integer without losing digits to
-- %.14g ('%d' is a C long here: 64 bits; 2-3 times cheaper than '%.0f').
local function int(n)
  return string.format('%d', math.floor(n + 0.5))
end

-- num is tonumber(s), remembered for the rest of the call: the jobs of
-- one call share their timestamps (submitted together, claimed together)
-- and their timeout, and Lua reads a number with strtod, about 1.8k
-- instructions for a time in ms, where a table lookup is a few dozen.
local NUM = {}
local function num(s)
  local v = NUM[s]
  if not v then
    v = tonumber(s)
    NUM[s] = v
  end
  return v
end

-- plus_one is the integer after n (a count or a version, as a string),
-- as a string: a table lookup for the first few (a claim and a
-- completion take a job's version from 1 to 3, its first claim its
-- attempts from none to 1) instead of formatting a number, 2.6k
-- instructions each.
local PLUS_ONE = {['0'] = '1', ['1'] = '2', ['2'] = '3', ['3'] = '4', ['4'] = '5', ['5'] = '6'}
local function plus_one(n)
  return PLUS_ONE[n] or int(n + 1)
end

-- move_count keeps the per-state counters equal to the sizes of the indexes.
local function move_count(counts, from, to)
  if from then redis.call('HINCRBY', counts, from, -1) end
  if to then redis.call('HINCRBY', counts, to, 1) end
end

-- touch stamps a change on a job: update time and version + 1.
local function touch(jobkey, now)
  redis.call('HSET', jobkey, 'updated_at', int(now))
  return redis.call('HINCRBY', jobkey, 'version', 1)
end

-- wake pushes n tokens (default 1, at most cap), one per job made
-- runnable, for the idle workers blocked on the queue; the list is capped
-- so that a busy fleet, which never pops it, cannot grow it. Past the cap
-- it is cut to half of it, so that under a backlog one push in cap/2
-- tokens pays an LTRIM, not every push (a worker woken by a token claims
-- every job it has room for, so fewer tokens than jobs lose none).
local function wake(wakekey, cap, n)
  cap = tonumber(cap)
  n = math.min(n or 1, cap)
  local len
  if n == 1 then
    len = redis.call('LPUSH', wakekey, '1')
  else
    local tokens = {}
    for i = 1, n do tokens[i] = '1' end
    len = redis.call('LPUSH', wakekey, unpack(tokens))
  end
  if len > cap then
    redis.call('LTRIM', wakekey, 0, math.max(1, math.floor(cap / 2)) - 1)
  end
end

-- pending_score orders a lane (the pending set of one queue and type):
-- higher priority first, then first come first served (seq, shared by
-- every lane of the shard, so that lanes merge in submission order).
local function pending_score(prio, seq)
  return (100 - prio) * 1e12 + seq
end

-- enqueue puts a job of type typ in its lane and the type in its queue's
-- set of lane types. A job that was already running when it came back
-- (recovered from a dead worker, or put back on shutdown) goes to the
-- head of its priority (front = true): it has waited its turn once, and
-- the "runs again within 2x the lease" promise must hold under a backlog.
-- At the front the score is 5e11 lower: still above the next higher
-- priority's while the sequence stays below 5e11. prio: the job's
-- priority when the caller knows it (else read from its hash).
local function enqueue(lanekey, typeskey, typ, seqkey, wakekey, cap, jobkey, id, front, prio)
  prio = prio or tonumber(redis.call('HGET', jobkey, 'priority') or '0')
  local score = pending_score(prio, redis.call('INCR', seqkey))
  if front then
    score = score - 5e11
  end
  redis.call('ZADD', lanekey, int(score), id)
  redis.call('SADD', typeskey, typ)
  wake(wakekey, cap)
end

-- add_event appends the event of a job whose new state the script already
-- knows (built without reading the hash again) to buf, as JSON text made
-- by one concatenation: cjson.encode of a table costs about 4 times as
-- much. progress, version and now are JSON numbers already formatted
-- (strings), step a JSON string (quoted: a literal, or cjson.encode of
-- free text). Ids (UUIDs made by the client), types and queue names
-- (validated by submit.go before submit.lua stores them) never need
-- escaping, so they are not checked: a pattern match per event would cost
-- more than the concatenation.
--
-- buf is a list of one script call's events, one string each, which
-- publish_events joins once. (An event as one string, made by one
-- concatenation of its pieces, costs less than its pieces left to the
-- join: table.concat pays per piece, and past its 8 KB buffer it builds
-- and hashes the message again as it grows. Measured under callgrind:
-- a claim's and a completion's Redis instructions per job fell 3-5%.)
local function add_event(buf, id, status, progress, step, version, now, typ, queue)
  buf[#buf + 1] = '{"job_id":"' .. id .. '","status":"' .. status .. '","progress":' .. progress ..
    ',"current_step":' .. step .. ',"version":' .. version .. ',"updated_at":' .. now ..
    ',"type":"' .. typ .. '","queue":"' .. queue .. '"}'
end

-- event_tail is the end of an event (add_pending_events) after its
-- version: the same for the jobs of one type and queue changed in one
-- call. add_event writes the same end inline: one concatenation per event
-- is cheaper than two where the tail is not shared.
local function event_tail(now, typ, queue)
  return ',"updated_at":' .. now .. ',"type":"' .. typ .. '","queue":"' .. queue .. '"}'
end

-- add_pending_events appends to buf, as add_event does, the event of the
-- jobs ids made pending together at one version, progress 0 and no step:
-- one event naming them all ("job_ids", a list; "job_id" for one), with
-- its tail (event_tail) and without the progress and step. The Hub reads
-- fields left out as 0 and "", and gives each job of the list its own
-- event (events.go). (A release makes many jobs pending at once, and
-- Redis's Lua hashes every byte of every string it makes, about 14
-- instructions a byte: each job costs its id, not an event.)
local function add_pending_events(buf, ids, version, tail)
  if #ids == 1 then
    buf[#buf + 1] = '{"job_id":"' .. ids[1] .. '","status":"pending","version":' .. version .. tail
  else
    buf[#buf + 1] = '{"job_ids":["' .. table.concat(ids, '","') .. '"],"status":"pending","version":' ..
      version .. tail
  end
end

-- add_log_event adds a log line's event (log.lua) to buf, as add_event
-- adds a job's. msg is a JSON string.
local function add_log_event(buf, id, version, level, t, msg)
  buf[#buf + 1] = '{"job_id":"' .. id .. '","version":' .. version .. ',"level":"' .. level ..
    '","time":' .. t .. ',"message":' .. msg .. '}'
end

-- watched tells whether a job event published on channel now may reach
-- anyone. A Hub (events.go) listens on channel and on watch .. ':hubs'
-- while it runs, and on watch while it has subscribers (SSE streams, long
-- polls, waiting lease calls; hubwatch.go): the transitions of jobs no
-- one can be watching build no event. Any other listener on channel (a
-- Hub from before the watch channel, a client of the channel's own)
-- counts as watching all the time. watch is '' where subscribers cannot
-- be counted (a Redis Cluster, whose nodes count their own): always then.
-- A Hub listens before it returns a subscription, which reads the state
-- it follows after, so no change it follows goes unpublished.
local function watched(channel, watch)
  if watch == '' then return true end
  local n = redis.call('PUBSUB', 'NUMSUB', watch, channel, watch .. ':hubs')
  return n[2] > 0 or n[4] > n[6]
end

-- publish_events sends the events gathered in buf: one PUBLISH per call
-- instead of one per job; several events go as a JSON array (the Hub
-- splits it).
local function publish_events(channel, buf)
  local n = #buf
  if n == 0 then return end
  if n > 1 then
    buf[1] = '[' .. buf[1]
    buf[n] = buf[n] .. ']'
  end
  redis.call('PUBLISH', channel, table.concat(buf, ','))
end

-- add_job_event is add_event for a job whose new state the script does
-- not hold: it reads the job's hash, as it now is, once.
local function add_job_event(buf, id, jobkey)
  local f = redis.call('HMGET', jobkey, 'status', 'progress', 'step', 'version',
    'updated_at', 'type', 'queue')
  add_event(buf, id, f[1], f[2] or '0', cjson.encode(f[3] or ''), f[4] or '0',
    f[5] or '0', f[6] or '', f[7] or DEFAULT_QUEUE)
end

-- publish sends one job's state as it now is, as one event.
local function publish(channel, id, jobkey)
  local buf = {}
  add_job_event(buf, id, jobkey)
  publish_events(channel, buf)
end

-- release_type gives back the slots of n running jobs of one type in the
-- type's count and, when the type is limited (slots just opened), wakes a
-- worker on each of the wake lists in wakekeys (a set: {key = true}), the
-- lists of the lanes the jobs came from.
local function release_type(typ, n, typerun, limits, wakekeys, cap)
  if redis.call('HINCRBY', typerun, typ, -n) <= 0 then
    redis.call('HDEL', typerun, typ)
  end
  if redis.call('HEXISTS', limits, typ) == 1 then
    for wk in pairs(wakekeys) do wake(wk, cap) end
  end
end

-- check_run refuses a write from any run but the one holding the lease.
local function check_run(jobkey, token)
  local f = redis.call('HMGET', jobkey, 'status', 'token')
  if not f[1] then return {NOT_FOUND} end
  if f[1] ~= 'running' or f[2] ~= token then return {LEASE_LOST, f[1]} end
  return nil
end

-- end_run releases what a running job holds: its lease, its run token
-- (unless keep_token: a failed run keeps it, so that the same run failing
-- again is answered, not refused; no write checks a token of a job that
-- is not running) and its slot in the per-type concurrency count (waking
-- a worker when the type is limited, since a slot just opened).
local function end_run(jobkey, id, leases, typerun, limits, wakekey, cap, keep_token)
  redis.call('ZREM', leases, id)
  if not keep_token then redis.call('HDEL', jobkey, 'token') end
  release_type(redis.call('HGET', jobkey, 'type'), 1, typerun, limits, {[wakekey] = true}, cap)
end

-- run_lease is the lease deadline deadline (ms, formatted) of a run
-- started at started (ms, formatted) of a job with timeout timeout (ms,
-- or nil for none): never past the timeout, so that a run over its
-- timeout loses its lease and the reaper fails it.
local function run_lease(deadline, started, timeout)
  if not timeout or not started then return deadline end
  return int(math.min(tonumber(deadline), tonumber(started) + tonumber(timeout)))
end

-- ---- A job's events (jobevents.go) -------------------------------------
-- A job's history is a list of its events, oldest first, bounded to the
-- newest HISTORY_LIMIT (MaxEventHistory in jobevents.go; a test keeps them
-- equal). Each entry is "<version> <status> <progress> <updated_at> <step
-- JSON>": the event without what the job's record already says (id, type,
-- queue). A claim starts the history; every later transition appends only
-- to a history that exists (RPUSHX), so a job that never ran has none: a
-- pending job pays nothing. Log lines have their own list (log.lua).
--
-- Two events are kept without a push of their own, since each is one per
-- run on the hot path (claim, complete) and a push is a Redis call per
-- job. The claim writes its entry into the job's CLAIM_EVENT field, in the
-- HSET it makes anyway; the next push to the history (a progress report,
-- a failure, a cancel, a reap, ...) pushes it first, with its own entry in
-- the same RPUSH (which then creates the list), and empties the field. A
-- completion pushes nothing: completed is final (a restart takes failed
-- and cancelled jobs only), so its event is the job's record as it stays.
-- Events (jobevents.go) reads the list, then the field, then the record of
-- a completed job.
local HISTORY_LIMIT = 1000
local CLAIM_EVENT = 'claim_event'

-- history_entry is one entry of a history, from formatted pieces as
-- add_event takes them.
local function history_entry(version, status, progress, step, now)
  return version .. ' ' .. status .. ' ' .. progress .. ' ' .. now .. ' ' .. step
end

-- add_history appends one event to the history histkey (create: start it
-- if missing). version, progress and now are formatted numbers, step a
-- JSON string, as add_event takes them. claimed is the job's CLAIM_EVENT
-- field as read: when not empty, it goes first and starts the list (the
-- caller empties the field in its own write).
local function add_history(histkey, create, version, status, progress, step, now, claimed)
  local entry = history_entry(version, status, progress, step, now)
  local n
  if claimed and claimed ~= '' then
    n = redis.call('RPUSH', histkey, claimed, entry)
  else
    n = redis.call(create and 'RPUSH' or 'RPUSHX', histkey, entry)
  end
  if n > HISTORY_LIMIT then redis.call('LTRIM', histkey, -HISTORY_LIMIT, -1) end
end

-- add_job_event_kept is add_job_event that also appends the event to
-- the job's history histkey (when it has one): the hash is read once.
local function add_job_event_kept(buf, id, jobkey, histkey)
  local f = redis.call('HMGET', jobkey, 'status', 'progress', 'step', 'version',
    'updated_at', 'type', 'queue', CLAIM_EVENT)
  local progress, step, version, now = f[2] or '0', cjson.encode(f[3] or ''), f[4] or '0', f[5] or '0'
  add_event(buf, id, f[1], progress, step, version, now, f[6] or '', f[7] or DEFAULT_QUEUE)
  add_history(histkey, false, version, f[1], progress, step, now, f[8])
  if f[8] and f[8] ~= '' then redis.call('HSET', jobkey, CLAIM_EVENT, '') end
end

-- publish_kept is publish that also appends the event to the job's
-- history histkey (when it has one).
local function publish_kept(channel, id, jobkey, histkey)
  local buf = {}
  add_job_event_kept(buf, id, jobkey, histkey)
  publish_events(channel, buf)
end
-- ---- end of event history ---------------------------------------------
-- History (history.go reads it back; keys.go documents the keys). A
-- script gathers what its call did in a table h, by queue then type then
-- field (hist_add), and writes it once at its end (hist_write): one
-- HINCRBY per field of each (queue, type) the call touched, whatever the
-- size of the batch, in the hash of the minute by the Redis clock,
-- <index>:m:<minute>:<queue>:<type>. index is the shard's history index
-- (a declared key, last of KEYS); the minute's hash shares its hash tag,
-- so it lives in the script's slot, but only the script knows the minute.
-- Counter fields: s submitted, b started, c completed, f failed,
-- r retried, x cancelled (p pending and n running are maintenance's
-- samples); R<bucket> and W<bucket> count run and wait times (ms) by
-- hist_bucket.
local HIST_MINUTE_TTL = 48 * 3600 + 300 -- seconds: 48 h of minutes, and a margin
local HIST_PER_LN = 4 / math.log(2)
local log, floor = math.log, math.floor

-- hist_bucket is the log-scale bucket of a duration in ms: 0 below 1 ms,
-- else 1 + floor(4·log2(ms)), four buckets per doubling (bucketOf in
-- history.go is the same function).
local function hist_bucket(ms)
  if ms < 1 then return 0 end
  return 1 + floor(log(ms) * HIST_PER_LN)
end

-- hist_add counts n (default 1) in field of (queue, typ) and, when prefix
-- is given, one duration of ms in its histogram. (Per job of a batch: no
-- string is made here; hist_write names the buckets' fields once.)
local function hist_add(h, queue, typ, field, n, prefix, ms)
  local q = h[queue]
  if not q then q = {}; h[queue] = q end
  local g = q[typ]
  if not g then g = {}; q[typ] = g end
  g[field] = (g[field] or 0) + (n or 1)
  if prefix then
    local hb = g[prefix]
    if not hb then hb = {}; g[prefix] = hb end
    local b = hist_bucket(ms)
    hb[b] = (hb[b] or 0) + 1
  end
end

-- hist_write writes what h gathered into the minute of now. A field that
-- was new (its count is what was just added) may mean a new hash: then it
-- gets its expiry and the index notes the (queue, type) active in this
-- minute, which readers and the hour roll-up walk.
local function hist_write(h, index, now)
  local minute = floor(now / 60000)
  local base = index .. ':m:' .. minute .. ':'
  for queue, q in pairs(h) do
    for typ, g in pairs(q) do
      local key = base .. queue .. ':' .. typ
      local fresh = false
      for f, n in pairs(g) do
        if type(n) == 'table' then -- a histogram: its buckets
          for b, k in pairs(n) do
            if redis.call('HINCRBY', key, f .. b, k) == k then fresh = true end
          end
        elseif redis.call('HINCRBY', key, f, n) == n then
          fresh = true
        end
      end
      if fresh then
        redis.call('EXPIRE', key, HIST_MINUTE_TTL)
        redis.call('HSET', index, queue .. ':' .. typ, minute)
      end
    end
  end
end

-- set_hook gives a job that just ended (completed, failed for good or
-- cancelled) with a callback URL its delivery (deliveries.go): fresh
-- delivery fields — its id is the job's id and the version that ended it,
-- so that a restarted job's next end is another delivery — and its entry
-- in the shard's hooks set, due now. Callers read callback_url with the
-- fields they read anyway and call this only when it is set: a job
-- without a callback pays nothing. member, when given, is the entry in
-- the hooks set instead of id (a pipeline's: pipe_settle).
local function set_hook(jobkey, hooks, id, version, now, member)
  redis.call('HSET', jobkey, 'hook_id', id .. '.' .. version, 'hook_state', 'pending', 'hook_tries', '0')
  redis.call('HDEL', jobkey, 'hook_attempts', 'hook_token')
  redis.call('ZADD', hooks, int(now), member or id)
end

-- ---- completion (complete.lua, pipeline_complete.lua) -------------------
-- A completion call gathers what its runs did in c = {out, done, finished,
-- types, events, hist, now, now_s} and writes the shared indexes once at
-- its end (complete_end). out gets each run's row; done, finished and
-- types what complete_end writes.
local COMPLETED_ROW = {OK} -- one table for every run's {OK}: the reply is the same

-- complete_run completes run (id, token) of job jk, whose lane's wake
-- list is wk, with result ('' for none), only if the run still holds the
-- lease; a repeat by the same run is answered OK and changes nothing. A
-- callback URL gets its delivery in hooks. Returns the job's type and
-- queue when this call completed it, nil otherwise.
local function complete_run(c, jk, wk, id, token, result, hooks)
  local f = redis.call('HMGET', jk, 'status', 'token', 'type', 'queue', 'version', 'error',
    'started_at', 'callback_url')
  if not f[1] then
    c.out[#c.out + 1] = {NOT_FOUND}
    return nil
  elseif f[1] == 'completed' and f[2] == token then
    c.out[#c.out + 1] = COMPLETED_ROW -- completed by this very run already
    return nil
  elseif f[1] ~= 'running' or f[2] ~= token then
    c.out[#c.out + 1] = {LEASE_LOST, f[1]}
    return nil
  end
  local version = plus_one(f[5])
  -- A completed job's progress (100) and step go with its status (job.go
  -- reads them so): they are not written, and a progress report's stay
  -- behind, superseded.
  if result ~= '' then
    redis.call('HSET', jk, 'status', 'completed', 'completed_at', c.now_s, 'updated_at', c.now_s,
      'version', version, 'result', result)
  else
    redis.call('HSET', jk, 'status', 'completed', 'completed_at', c.now_s, 'updated_at', c.now_s,
      'version', version)
  end
  if f[6] then redis.call('HDEL', jk, 'error') end
  if f[8] then set_hook(jk, hooks, id, version, c.now) end
  c.done[#c.done + 1] = id
  c.finished[#c.finished + 1] = c.now_s
  c.finished[#c.finished + 1] = id
  local t = c.types[f[3]] or {n = 0, wake = {}}
  t.n = t.n + 1
  t.wake[wk] = true
  c.types[f[3]] = t
  local queue = f[4] or DEFAULT_QUEUE
  if c.watched then
    add_event(c.events, id, 'completed', '100', '"Job completed successfully"', version, c.now_s, f[3], queue)
  end
  hist_add(c.hist, queue, f[3], 'c', 1, 'R', c.now - num(f[7] or c.now))
  c.out[#c.out + 1] = COMPLETED_ROW
  return f[3], queue
end

-- complete_end writes what the call's completed runs changed: out of the
-- leases, into the completed set, their types' slots given back (waking
-- their lanes), the counters moved.
local function complete_end(c, leases, completed, typerun, limits, counts, cap)
  if #c.done == 0 then return end
  redis.call('ZREM', leases, unpack(c.done))
  redis.call('ZADD', completed, unpack(c.finished))
  for typ, t in pairs(c.types) do
    release_type(typ, t.n, typerun, limits, t.wake, cap)
  end
  redis.call('HINCRBY', counts, 'running', -#c.done)
  redis.call('HINCRBY', counts, 'completed', #c.done)
end
