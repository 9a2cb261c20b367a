-- Reentrant release: the owner decrements its hold count; at zero the lock
-- is deleted, otherwise the TTL is refreshed for the outer holder.
-- KEYS[1] lock key (a hash)
-- ARGV[1] owner token
-- ARGV[2] TTL in milliseconds
-- Returns the hold count left (0 = released), or -1 when the caller does
-- not own the lock (it expired, or belongs to someone else).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return -1
end
local count = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if count > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return count
end
redis.call('DEL', KEYS[1])
return 0
