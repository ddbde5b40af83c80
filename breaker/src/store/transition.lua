-- contract-gate breaker: compare-and-set of the state on its epoch, then announce it.
-- A replica whose view is stale (expected epoch not current) is refused and gets the
-- current state back, so it can never overwrite a newer decision.
--
-- KEYS[1]  key prefix
-- ARGV  1 expected epoch ('0': no state yet)  2 new epoch  3 json  4 mode  5 window_from
--       6 probe budget
-- Returns {1, json} when written, {0, current json or ''} when refused.

local sk = KEYS[1] .. ':state'
local cur = redis.call('HGET', sk, 'epoch')
if not cur then cur = '0' end
if cur ~= ARGV[1] then
  return {0, redis.call('HGET', sk, 'json') or ''}
end
redis.call('HSET', sk, 'epoch', ARGV[2], 'json', ARGV[3], 'mode', ARGV[4], 'from', ARGV[5],
  'budget', ARGV[6])
redis.call('PUBLISH', KEYS[1] .. ':events', ARGV[3])
return {1, ARGV[3]}
