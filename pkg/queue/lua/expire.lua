-- expire.lua: removes finished jobs of one terminal state whose retention
-- ran out, keeping the counters exact (a plain EXPIRE could not).
-- KEYS[1] counts  KEYS[2] finished zset of the state
-- KEYS[1+2i] job hash of candidate i   KEYS[2+2i] its unique key (its job hash when it has none)
-- KEYS[1+2n+2i] its history  KEYS[2+2n+2i] its log (n candidates)
-- ARGV[1] state  ARGV[2] retention ms  ARGV[3] how long a callback still
-- being delivered holds its job back, ms from its end (0: not at all)
-- ARGV[3+i] candidate i id
-- Returns {OK, number removed}
local now = now_ms()
local cutoff = now - tonumber(ARGV[2])
local hold = tonumber(ARGV[3])
local removed = 0
local cands = #ARGV - 3
for i = 1, cands do
  local jk, uk, id = KEYS[1 + 2 * i], KEYS[2 + 2 * i], ARGV[3 + i]
  local done = redis.call('ZSCORE', KEYS[2], id)
  local f = redis.call('HMGET', jk, 'status', 'hook_state')
  local held = f[2] == 'pending' and done and tonumber(done) > now - hold
  if done and tonumber(done) <= cutoff and f[1] == ARGV[1] and not held then
    if uk ~= jk and redis.call('GET', uk) == id then redis.call('DEL', uk) end
    redis.call('DEL', jk, KEYS[1 + 2 * cands + 2 * i], KEYS[2 + 2 * cands + 2 * i])
    redis.call('ZREM', KEYS[2], id)
    move_count(KEYS[1], ARGV[1], nil)
    removed = removed + 1
  end
end
return {OK, removed}
