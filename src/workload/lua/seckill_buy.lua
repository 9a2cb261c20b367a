-- Atomic seckill purchase: check the stock and take one in the same step,
-- so the stock never goes below zero however many buyers race.
-- KEYS[1] stock counter
-- KEYS[2] hash user -> order number
-- ARGV[1] user
-- ARGV[2] order number
-- Returns the stock left after this sale (>= 0), or -1 sold out,
-- -2 this user already bought this item, -3 no such item.
local stock = redis.call('GET', KEYS[1])
if not stock then
  return -3
end
stock = tonumber(stock)
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return -2
end
if stock <= 0 then
  return -1
end
redis.call('DECR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return stock - 1
