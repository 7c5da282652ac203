-- pipeline_submit.lua: creates a pipeline and all its jobs at once, or
-- nothing. A job without parents is pending (in its lane); the others
-- wait for their parents (waiting), each knowing how many it waits for,
-- its parents (for their results) and its children (to unblock them).
-- KEYS[1] pipeline hash  KEYS[2] its unique key (the pipeline hash when it has none)
-- KEYS[3] counts  KEYS[4] queues set  KEYS[5] seq  KEYS[6] waiting zset
-- KEYS[3+4i..6+4i], for job i: job hash, its lane, the lane's wake list, its queue's lane types set
-- KEYS[#KEYS] the history index (lib.lua: hist_write)
-- ARGV[1] pipeline id  ARGV[2] unique key ('' for none)  ARGV[3] events channel
-- ARGV[4] wake cap  ARGV[5] the most queue names the queues set may hold (0: no bound)
-- ARGV[6] the graph JSON (kept in the pipeline hash)
-- ARGV[-4+11i..6+11i], for job i: id, type, queue, payload JSON, priority,
--   max_retries, timeout ms, key, number of parents, parents JSON ('' for
--   none), children JSON ('' for none)
-- ARGV[7+11n] the pipeline's callback URL ('' for none), then
-- ARGV[7+11n+i] job i's callback URL ('' for none) (n jobs)
-- Returns {OK, created_at ms} | {DUPLICATE, id holding the key} |
-- {QUEUE_LIMIT, bound} when a new queue would pass the registry's bound.
if ARGV[2] ~= '' then
  local holder = redis.call('GET', KEYS[2])
  if holder then return {DUPLICATE, holder} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {DUPLICATE, ARGV[1]} end
local n = (#KEYS - 7) / 4
-- The queues set learns the jobs' queues first, each once (a known queue
-- costs its SADD alone); should the new ones take it past the registry's
-- bound, they are taken back and nothing is created.
local queues, added = {}, {}
for i = 1, n do
  local q = ARGV[-4 + 11 * i + 2]
  if not queues[q] then
    queues[q] = true
    if redis.call('SADD', KEYS[4], q) == 1 then added[#added + 1] = q end
  end
end
local bound = tonumber(ARGV[5])
if #added > 0 and bound > 0 and redis.call('SCARD', KEYS[4]) > bound then
  redis.call('SREM', KEYS[4], unpack(added))
  return {QUEUE_LIMIT, ARGV[5]}
end
local now = now_ms()
local now_s = int(now)
local pid = ARGV[1]
local pending, waiting, notice, hist = 0, {}, {}, {}
for i = 1, n do
  local a = -4 + 11 * i
  local jk, lk, wk, tk = KEYS[3 + 4 * i], KEYS[4 + 4 * i], KEYS[5 + 4 * i], KEYS[6 + 4 * i]
  local id, typ, queue = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local nparents = ARGV[a + 8]
  local status = nparents == '0' and 'pending' or 'waiting'
  local h = {'type', typ, 'payload', ARGV[a + 3], 'status', status, 'created_at', now_s,
    'version', '1', 'pipeline', pid, 'pipeline_key', ARGV[a + 7]}
  if queue ~= DEFAULT_QUEUE then h[#h + 1] = 'queue'; h[#h + 1] = queue end
  if ARGV[a + 4] ~= '0' then h[#h + 1] = 'priority'; h[#h + 1] = ARGV[a + 4] end
  if ARGV[a + 5] ~= DEFAULT_MAX_RETRIES then h[#h + 1] = 'max_retries'; h[#h + 1] = ARGV[a + 5] end
  if ARGV[a + 6] ~= '0' then h[#h + 1] = 'timeout_ms'; h[#h + 1] = ARGV[a + 6] end
  if status == 'waiting' then h[#h + 1] = 'waits'; h[#h + 1] = nparents end
  if ARGV[a + 9] ~= '' then h[#h + 1] = 'parents'; h[#h + 1] = ARGV[a + 9] end
  if ARGV[a + 10] ~= '' then h[#h + 1] = 'children'; h[#h + 1] = ARGV[a + 10] end
  local cb = ARGV[7 + 11 * n + i]
  if cb ~= '' then h[#h + 1] = 'callback_url'; h[#h + 1] = cb end
  redis.call('HSET', jk, unpack(h))
  hist_add(hist, queue, typ, 's')
  if status == 'pending' then
    enqueue(lk, tk, typ, KEYS[5], wk, ARGV[4], jk, id, false, tonumber(ARGV[a + 4]))
    pending = pending + 1
    notice[#notice + 1] = '{"status":"pending","type":"' .. typ .. '","queue":"' .. queue .. '"}'
  else
    waiting[#waiting + 1] = now_s
    waiting[#waiting + 1] = id
  end
end
if #waiting > 0 then
  redis.call('ZADD', KEYS[6], unpack(waiting))
  redis.call('HINCRBY', KEYS[3], 'waiting', #waiting / 2)
end
redis.call('HINCRBY', KEYS[3], 'pending', pending)
local h = {'status', 'running', 'created_at', now_s, 'version', '1', 'jobs', n, 'graph', ARGV[6]}
if ARGV[2] ~= '' then
  h[#h + 1] = 'unique_key'; h[#h + 1] = ARGV[2]
  redis.call('SET', KEYS[2], pid)
end
if ARGV[7 + 11 * n] ~= '' then h[#h + 1] = 'callback_url'; h[#h + 1] = ARGV[7 + 11 * n] end
redis.call('HSET', KEYS[1], unpack(h))
hist_write(hist, KEYS[#KEYS], now)
-- Lane notices for the lease calls waiting on the lanes (as submit.lua).
if #notice > 0 then redis.call('PUBLISH', ARGV[3], '[' .. table.concat(notice, ',') .. ']') end
return {OK, now_s}
