-- Fenced acquire: SET NX PX like the safe lock, and on success issue the
-- next fencing token from a counter that only ever grows (INCR), in the same
-- atomic step, so a later holder always carries a larger token.
-- KEYS[1] lock key
-- KEYS[2] fencing-token counter of this lock
-- ARGV[1] owner token
-- ARGV[2] TTL in milliseconds
-- Returns the fencing token (>= 1), or 0 when the lock is held.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
