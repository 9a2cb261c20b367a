-- Compare-and-delete: release a lock only if it still holds our token.
-- Used by the `safe` and `fenced` locks. A plain DEL would remove the lock
-- of whoever took it after ours expired; comparing first, atomically, cannot.
-- KEYS[1] lock key
-- ARGV[1] the owner token written at acquire
-- Returns 1 when deleted, 0 when the lock was gone or someone else's.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
