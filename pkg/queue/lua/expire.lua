-- expire.lua: removes finished jobs of one terminal state whose retention
-- ran out, keeping the counters exact (a plain EXPIRE could not).
-- KEYS[1] counts  KEYS[2] finished zset of the state
-- KEYS[1+2i] job hash of candidate i   KEYS[2+2i] its unique key (its job hash when it has none)
-- KEYS[1+2n+2i] its history  KEYS[2+2n+2i] its log (n candidates)
-- ARGV[1] state  ARGV[2] retention ms  ARGV[2+i] candidate i id
-- Returns {OK, number removed}
local cutoff = now_ms() - tonumber(ARGV[2])
local removed = 0
local cands = #ARGV - 2
for i = 1, cands do
  local jk, uk, id = KEYS[1 + 2 * i], KEYS[2 + 2 * i], ARGV[2 + i]
  local done = redis.call('ZSCORE', KEYS[2], id)
  if done and tonumber(done) <= cutoff and redis.call('HGET', jk, 'status') == ARGV[1] then
    if uk ~= jk and redis.call('GET', uk) == id then redis.call('DEL', uk) end
    redis.call('DEL', jk, KEYS[1 + 2 * cands + 2 * i], KEYS[2 + 2 * cands + 2 * i])
    redis.call('ZREM', KEYS[2], id)
    move_count(KEYS[1], ARGV[1], nil)
    removed = removed + 1
  end
end
return {OK, removed}
