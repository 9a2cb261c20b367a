-- Fenced write of the protected resource: refuse a token older than the
-- highest accepted one (see fenced_read.lua), otherwise store the value and
-- remember the token.
-- KEYS[1] resource value
-- KEYS[2] highest fencing token the resource has accepted
-- ARGV[1] the caller's fencing token
-- ARGV[2] the new value
-- Returns {1, token} when written, {0, highest} when refused as stale.
local token = tonumber(ARGV[1])
local highest = tonumber(redis.call('GET', KEYS[2]) or '0')
if token < highest then
  return {0, highest}
end
redis.call('SET', KEYS[2], token)
redis.call('SET', KEYS[1], ARGV[2])
return {1, token}
