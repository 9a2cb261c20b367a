-- Fenced read of the protected resource. The resource remembers the highest
-- fencing token it has served; an operation carrying an older token comes
-- from a holder whose lock has expired and been taken by someone newer, so
-- it is refused. Recording the token at read time (not only at write time)
-- is what makes the read-modify-write safe: once a newer holder has read,
-- the older holder can no longer write back a value based on a stale read.
-- KEYS[1] resource value
-- KEYS[2] highest fencing token the resource has accepted
-- ARGV[1] the caller's fencing token
-- Returns {1, value} when served, {0, highest} when refused as stale.
local token = tonumber(ARGV[1])
local highest = tonumber(redis.call('GET', KEYS[2]) or '0')
if token < highest then
  return {0, highest}
end
redis.call('SET', KEYS[2], token)
return {1, tonumber(redis.call('GET', KEYS[1]) or '0')}
