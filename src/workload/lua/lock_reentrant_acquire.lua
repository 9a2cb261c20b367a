-- Reentrant acquire: the lock is a hash {owner -> hold count}.
-- A free lock is taken with count 1; the owner re-enters by incrementing its
-- count; anyone else is refused. Every successful acquire refreshes the TTL.
-- KEYS[1] lock key (a hash)
-- ARGV[1] owner token
-- ARGV[2] TTL in milliseconds
-- Returns the owner's hold count after this acquire (>= 1), or 0 when
-- another owner holds the lock.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], ARGV[1], 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  local count = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return count
end
return 0
