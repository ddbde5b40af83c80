-- contract-gate breaker: one replica's flush. Atomic (a Lua script), one call per replica per
-- flush interval. Merges the replica's window delta into the current time bucket, returns the
-- window over all replicas and the current state, and does the half-open probe accounting.
-- Thresholds are NOT evaluated here: the replica runs the same Rust core as batch `check`
-- and writes any transition with transition.lua (compare-and-set on the epoch).
-- Keep bucket selection in step with src/buckets.rs.
--
-- Every time the shared window depends on is Redis's clock (TIME), never a replica's: bucket
-- selection, the window start of a seeded state, warmth, and arrival times (ops 'a'), which
-- come in the replica's clock and are moved by the difference between the two clocks. A
-- replica whose clock is an hour off can neither hide nor fake a breach, nor make the window
-- look empty to the others. Scripts are replicated by their effects (Redis >= 5; asked for
-- explicitly on 3.2-4), so reading TIME before writing is allowed.
--
-- KEYS[1]  key prefix (contains a {hash tag} in cluster setups; all keys derive from it)
-- ARGV  1 replica now ms  2 replica     3 kind 't'|'c'   4 bucket_ms   5 span_ms
--       6 count_records 7 ops ('s' sum | 'm' max | 'a' max of arrival times, per slot)
--       8 delta csv ('' = nothing)
--       9 initial json 10 initial epoch 11 initial window_from (unused: see below)
--      12 probe epoch  13 probe used   14 probe csv     15 probe request
--      16 layout tag   17 bucket ttl ms 18 initial mode 19 initial probe budget
--      20 delta generation (the window start the replica believed current; '' = unknown)
--      21 clock: '' = Redis's (always, outside the parity tests); a number = that time
--      22 instance (this breaker instance; '' = no deduplication)  23 flush sequence
-- A flush whose sequence this instance already had applied (the client retried a call whose
-- reply was lost) merges nothing again; it still returns the window.
-- The initial state is the caller's last known state, so a Redis that restarted empty is
-- seeded with what the replicas last agreed on rather than with a blank closed breaker. The
-- window is not: its buckets are gone with the rest, so it starts over at `now` and is cold
-- until it has spanned again (an empty window the caller's older start called warm tripped
-- rowCount rules on data that was flowing; a start from a fast replica's clock hid the window
-- from every other replica).
-- Returns {state json, window csv, warm 0|1, probe csv, probe grant, window start, now,
-- duplicate 0|1} (the window start is the store's: a seeded state's json carries the caller's
-- older one; `now` is the store's clock the window was judged at)

if redis.replicate_commands then redis.replicate_commands() end

local base = KEYS[1]
local now
if ARGV[21] ~= '' then
  now = tonumber(ARGV[21])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Arrival times are the replica's clock; this moves them onto the store's.
local shift = now - (tonumber(ARGV[1]) or now)
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

-- Adds csv slots into hash `key` under field names prefix..slot. Max slots ('m', 'a') are
-- skipped unless with_max (bucket max slots live in the sticky `newest` hash instead).
local function merge_into(key, prefix, vals, with_max)
  for i = 1, nslots do
    local v = vals[i]
    if v ~= nil and v ~= '' then
      local op = string.sub(ops, i, i)
      if op == 's' then
        if v ~= '0' then redis.call('HINCRBY', key, prefix .. i, v) end
      elseif with_max then
        if op == 'a' then v = fmt(tonumber(v) + shift) end
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
  redis.call('HSET', sk, 'epoch', ARGV[10], 'json', ARGV[9], 'mode', ARGV[18],
    'from', fmt(now), 'budget', ARGV[19])
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
-- Each instance's flushes are numbered; the last number applied is kept (expiring with the
-- buckets it could have touched), so a retried call cannot count its delta twice.
local duplicate = 0
if ARGV[22] ~= '' then
  local qk = base .. ':seq:' .. ARGV[22]
  local seq = tonumber(ARGV[23]) or 0
  local last = tonumber(redis.call('GET', qk) or '')
  if last ~= nil and seq <= last then
    duplicate = 1
  else
    redis.call('SET', qk, fmt(seq), 'PX', ARGV[17])
  end
end

local gen = tonumber(ARGV[20])
if duplicate == 0 and ARGV[8] ~= '' and (created or gen == nil or gen == from) then
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
  if i ~= nil and i <= nslots and string.sub(ops, i, i) ~= 's' then win[i] = tonumber(sticky[j + 1]) end
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
  if duplicate == 0 and ARGV[12] == epoch then
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

return {json, to_csv(win), warm, probe_csv, grant, fmt(from), fmt(now), duplicate}
