-- Atomic red-packet grab, the double-average rule (WeChat's design).
-- One call does every step, so concurrent grabbers can never see the same
-- remainder: reject a user who already holds a share, reject when nothing is
-- left, draw the amount, record who got what, return it.
-- The randomness comes from the client (ARGV[2..]: one number per grab
-- position, derived from the run seed and the packet), never from the
-- server, so a run replays exactly and Redis stays deterministic.
-- KEYS[1] packet hash {total, count, remaining_cents, remaining_count}
-- KEYS[2] hash user -> amount granted
-- KEYS[3] list of "position:user:amount" in grab order
-- ARGV[1] user
-- ARGV[2 + p] random integer in [0, 2^31) for grab position p (0-based)
-- Returns {amount, position}, or {-1, 0} none left, {-2, 0} this user
-- already grabbed, {-3, 0} no such packet.
local left = tonumber(redis.call('HGET', KEYS[1], 'remaining_count'))
if not left then
  return {-3, 0}
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return {-2, 0}
end
if left <= 0 then
  return {-1, 0}
end
local remaining = tonumber(redis.call('HGET', KEYS[1], 'remaining_cents'))
local count = tonumber(redis.call('HGET', KEYS[1], 'count'))
local pos = count - left
local amount
if left == 1 then
  -- The last grab takes the rest, so the amounts always sum to the total.
  amount = remaining
else
  -- Uniform in [1, 2 * remaining / left]: every position has the same mean.
  local upper = math.floor(2 * remaining / left)
  local r = tonumber(ARGV[2 + pos]) or 0
  amount = 1 + math.floor(r * upper / 2147483648)
  -- Leave at least 1 cent for each grab still to come.
  local cap = remaining - (left - 1)
  if amount > cap then
    amount = cap
  end
  if amount < 1 then
    amount = 1
  end
end
redis.call('HSET', KEYS[1], 'remaining_cents', remaining - amount, 'remaining_count', left - 1)
redis.call('HSET', KEYS[2], ARGV[1], amount)
redis.call('RPUSH', KEYS[3], pos .. ':' .. ARGV[1] .. ':' .. amount)
return {amount, pos}
