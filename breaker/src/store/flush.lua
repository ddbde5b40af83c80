-- contract-gate breaker: one replica's flush. Atomic (a Lua script), one call per replica per
-- flush interval. Merges the replica's window delta into the current time bucket, returns the
-- window over all replicas and the current state, and does the half-open probe accounting.
-- Thresholds are NOT evaluated here: the replica runs the same Rust core as batch `check`
-- and writes any transition with transition.lua (compare-and-set on the epoch).
-- Keep bucket selection in step with src/buckets.rs.
--
-- KEYS[1]  key prefix (contains a {hash tag} in cluster setups; all keys derive from it)
-- ARGV  1 now_ms        2 replica       3 kind 't'|'c'   4 bucket_ms   5 span_ms
--       6 count_records 7 ops ('s'|'m' per slot)         8 delta csv ('' = nothing)
--       9 initial json 10 initial epoch 11 initial window_from
--      12 probe epoch  13 probe used   14 probe csv     15 probe request
--      16 layout tag   17 bucket ttl ms 18 initial mode 19 initial probe budget
--      20 delta generation (the window start the replica believed current; '' = unknown)
-- The initial state is the caller's last known state, so a Redis that restarted empty is
-- seeded with what the replicas last agreed on rather than with a blank closed breaker. The
-- window is not: its buckets are gone with the rest, so it starts over at `now` and is cold
-- until it has spanned again (an empty window the caller's older start called warm tripped
-- rowCount rules on data that was flowing).
-- Returns {state json, window csv, warm 0|1, probe csv, probe grant, window start}
-- (the window start is the store's: a seeded state's json carries the caller's older one)

local base = KEYS[1]
local now = tonumber(ARGV[1])
local replica = ARGV[2]
local kind = ARGV[3]
local b = tonumber(ARGV[4])
local span = tonumber(ARGV[5])
local want = tonumber(ARGV[6])
local ops = ARGV[7]
local nslots = string.len(ops)
-- Windows live under the layout tag: replicas whose rules give the slots other meanings
-- (another contract version) never merge into each other's buckets.
local tag = ARGV[16]

local function fmt(x) return string.format('%.0f', x) end

local function split(s)
  local t, i = {}, 1
  for v in string.gmatch(s .. ',', '([^,]*),') do t[i] = v; i = i + 1 end
  return t
end

-- Adds csv slots into hash `key` under field names prefix..slot. 'm' slots are skipped
-- unless with_max (bucket 'm' slots live in the sticky `newest` hash instead).
local function merge_into(key, prefix, vals, with_max)
  for i = 1, nslots do
    local v = vals[i]
    if v ~= nil and v ~= '' then
      if string.sub(ops, i, i) == 's' then
        if v ~= '0' then redis.call('HINCRBY', key, prefix .. i, v) end
      elseif with_max then
        local cur = redis.call('HGET', key, prefix .. i)
        if (not cur) or tonumber(v) > tonumber(cur) then redis.call('HSET', key, prefix .. i, v) end
      end
    end
  end
end

local function add_slot(acc, i, v)
  if string.sub(ops, i, i) == 's' then
    acc[i] = (acc[i] or 0) + v
  elseif acc[i] == nil or v > acc[i] then
    acc[i] = v
  end
end

local function to_csv(acc)
  local out = {}
  for i = 1, nslots do
    if acc[i] == nil then
      if string.sub(ops, i, i) == 's' then out[i] = '0' else out[i] = '' end
    else
      out[i] = fmt(acc[i])
    end
  end
  return table.concat(out, ',')
end

-- State: created on first use.
local sk = base .. ':state'
local created = redis.call('EXISTS', sk) == 0
if created then
  local seeded_from = math.max(tonumber(ARGV[11]) or now, now)
  redis.call('HSET', sk, 'epoch', ARGV[10], 'json', ARGV[9], 'mode', ARGV[18],
    'from', fmt(seeded_from), 'budget', ARGV[19])
end
local st = redis.call('HMGET', sk, 'epoch', 'json', 'mode', 'from', 'budget')
local epoch, json, mode = st[1], st[2], st[3]
local from = tonumber(st[4]) or 0
local budget = tonumber(st[5]) or 0

-- Delta into the current bucket of the current window generation (its start, `from`): a close
-- or reset starts a new generation, so counts merged before it never count again, not even
-- those in the bucket that holds the new start (they re-tripped the breaker after a close).
-- Newest timestamps go into the sticky hash. A delta collected under an older generation (the
-- replica had not yet learned of a close when it judged those records) belongs to the window
-- the close ended and is dropped.
local gen = tonumber(ARGV[20])
if ARGV[8] ~= '' and (created or gen == nil or gen == from) then
  local vals = split(ARGV[8])
  local start = now - (now % b)
  local bk = base .. ':b:' .. tag .. ':' .. fmt(from) .. ':' .. fmt(start)
  merge_into(bk, '', vals, false)
  redis.call('PEXPIRE', bk, ARGV[17])
  local nk = base .. ':newest:' .. tag
  merge_into(nk, '', vals, true)
  redis.call('PEXPIRE', nk, 604800000)
end

-- Window over all replicas.
local win = {}
local function add_bucket(s)
  local kv = redis.call('HGETALL', base .. ':b:' .. tag .. ':' .. fmt(from) .. ':' .. fmt(s))
  for j = 1, #kv, 2 do
    local i = tonumber(kv[j])
    if i ~= nil and i <= nslots then add_slot(win, i, tonumber(kv[j + 1])) end
  end
end
local s = now - (now % b)
local oldest = now - span
local warm = 0
if kind == 't' then
  while s + b > oldest and s + b > from do
    add_bucket(s)
    s = s - b
  end
  if now - from >= span then warm = 1 end
else
  while s + b > oldest and s + b > from and (win[1] or 0) < want do
    add_bucket(s)
    s = s - b
  end
  if (win[1] or 0) >= want then warm = 1 end
end
local sticky = redis.call('HGETALL', base .. ':newest:' .. tag)
for j = 1, #sticky, 2 do
  local i = tonumber(sticky[j])
  if i ~= nil and i <= nslots and string.sub(ops, i, i) == 'm' then win[i] = tonumber(sticky[j + 1]) end
end

-- Half-open probe: budget shared by all replicas. A replica's unused allowance comes back at
-- each flush and is claimed anew, so used + claims never exceed the budget. Claims do not
-- expire (that would let a replica that is merely slow overspend); budget held by a dead
-- replica is recovered by the probe timeout in the core, which reopens a starved probe.
local probe_csv, grant = '', 0
if mode == 'half_open' then
  local pk = base .. ':probe:' .. epoch
  -- The probe records' window, per layout like the buckets; the budget is shared by all.
  local pwk = pk .. ':' .. tag
  if ARGV[12] == epoch then
    local used = tonumber(ARGV[13]) or 0
    if used > 0 then redis.call('HINCRBY', pk, 'used', fmt(used)) end
    if ARGV[14] ~= '' then merge_into(pwk, 'w', split(ARGV[14]), true) end
  end
  redis.call('HDEL', pk, 'c:' .. replica)
  local all = redis.call('HGETALL', pk)
  local used, outstanding, pw = 0, 0, {}
  for j = 1, #all, 2 do
    local f, v = all[j], all[j + 1]
    if f == 'used' then
      used = tonumber(v)
    elseif string.sub(f, 1, 2) == 'c:' then
      outstanding = outstanding + (tonumber(v) or 0)
    end
  end
  local wall = redis.call('HGETALL', pwk)
  for j = 1, #wall, 2 do
    local f, v = wall[j], wall[j + 1]
    if string.sub(f, 1, 1) == 'w' then
      local i = tonumber(string.sub(f, 2))
      if i ~= nil and i <= nslots then pw[i] = tonumber(v) end
    end
  end
  grant = math.min(tonumber(ARGV[15]) or 0, budget - used - outstanding)
  if grant < 0 then grant = 0 end
  if grant > 0 then
    redis.call('HSET', pk, 'c:' .. replica, fmt(grant))
  end
  redis.call('PEXPIRE', pk, 86400000)
  if redis.call('EXISTS', pwk) == 1 then redis.call('PEXPIRE', pwk, 86400000) end
  probe_csv = to_csv(pw)
end

return {json, to_csv(win), warm, probe_csv, grant, fmt(from)}
