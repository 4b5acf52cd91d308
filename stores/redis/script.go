package haltredis

import (
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
)

// decideSrc is core's Policy.Decide as one Lua script: it reads the key's
// state, decides, writes the new state with a TTL, and returns
//
//	{allowed (0/1), reason, remaining, retry_after_ns, reset_after_ns, valid_ns [, now_us [, stamp, level, until_us]]}
//
// with the durations as decimal strings (exact at any size). valid_ns is how
// long a blocked answer stays true if nothing else changes the key (for a
// cooldown, its length). Blocked answers add the script's clock and, for the
// token bucket and fixed window, the key's state, for the over-limit cache.
//
// Lua numbers are doubles. Instants are microseconds (about 1.8e15 today,
// below 2^53, so integer arithmetic on them is exact); the token bucket's
// float arithmetic is done in nanoseconds in the same order as core (and
// golang.org/x/time/rate), so both round identically. Durations of the
// fixed and sliding windows stay in whole microseconds and are printed with
// three zeros appended; the token bucket's are printed from the truncated
// double, as time.Duration(float64) truncates.
//
// State, in one hash per key:
//
//	s  Stamp: token bucket µs of the last admission; fixed window index; sliding window newest sub-window index
//	l  Level: tokens left (%.17g, exact round trip) or the fixed window count
//	u  Until: end of a cooldown, µs
//	<i> sliding window count of sub-window i (absolute index), only while live and non-zero
//
// ARGV: now_us (0: Redis TIME), cost, algorithm, limit, capacity, window_us,
// rate (tokens per second, shortest round-trip decimal), block_us, sub-windows.
const decideSrc = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local cost = tonumber(ARGV[2])
local alg = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
local win = tonumber(ARGV[6])
local rate = tonumber(ARGV[7])
local block = tonumber(ARGV[8])
local n = tonumber(ARGV[9])
local TWO63 = 9223372036854775808

-- floor(a/b) for integers below 2^53, corrected for the rounding of a/b.
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
-- Go's truncated integer division.
local function tdiv(a, b)
  if (a < 0) ~= (b < 0) then return -fdiv(-a, b) end
  return fdiv(a, b)
end

local stamp, level, untl, slots, live, dirty
local fmt = string.format

-- Durations: nanosecond doubles for the token bucket, microseconds otherwise.
local function us(d) if alg == 0 then return d * 1000 end return d end
local function out(d)
  if alg == 0 then
    if d >= TWO63 then return '9223372036854775807' end
    return fmt('%.0f', d)
  end
  if d == 0 then return '0' end
  return fmt('%.0f', d) .. '000'
end

-- Token bucket, as core's tokenRate/durationFromTokens/tokensAt.
local function dft(tokens)
  if tokens <= 0 then return 0 end
  local d = tokens / rate * 1e9
  if d >= TWO63 then return TWO63 end
  return math.floor(d)
end
local function tokensAt()
  if stamp == 0 then return cap end
  local last = stamp
  if now < last then last = now end
  local d = now - last
  local sec = fdiv(d, 1000000)
  local nsec = (d - sec * 1000000) * 1000
  local tokens = level + (sec + nsec / 1e9) * rate
  if tokens > cap then tokens = cap end
  return tokens
end

local sub = 0
if alg == 2 then sub = win / n end

local function untilFull()
  if alg == 1 then
    local k = fdiv(now, win)
    if stamp < k or level == 0 then return 0 end
    return (stamp + 1) * win - now
  elseif alg == 2 then
    local newest = nil
    for i, c in pairs(slots) do
      if c ~= 0 and (newest == nil or i > newest) then newest = i end
    end
    if newest == nil then return 0 end
    local d = (newest + n) * sub - now
    if d < 0 then return 0 end
    return d
  end
  if stamp == 0 then return 0 end
  return dft(cap - tokensAt())
end

-- Load the state.
if alg == 2 then
  slots = {}
  local h = redis.call('HGETALL', key)
  for i = 1, #h, 2 do
    local f = h[i]
    if f == 's' then stamp = tonumber(h[i + 1])
    elseif f == 'u' then untl = tonumber(h[i + 1])
    elseif f ~= 'l' then slots[tonumber(f)] = tonumber(h[i + 1]) end
  end
else
  local h = redis.call('HMGET', key, 's', 'l', 'u')
  stamp = tonumber(h[1]) or 0
  level = tonumber(h[2]) or 0
  untl = tonumber(h[3])
end
untl = untl or 0

local allowed, reason, remaining, retry, reset = 0, 1, 0, 0, 0
local cachefor = nil
local wrote = false

-- A blocked answer carries the instant and, but for the sliding window,
-- the state, so the caller can keep answering it locally.
local function blockedReply(reason, remaining, retry, reset, valid)
  local r = {0, reason, remaining, out(retry), out(reset), out(valid), fmt('%.0f', now)}
  if alg ~= 2 then
    r[8] = fmt('%.0f', stamp)
    r[9] = fmt('%.17g', level)
    r[10] = fmt('%.0f', untl)
  end
  return r
end

if cost > cap then
  return {0, 3, 0, out(us(win)), out(untilFull()), '0'}
end
if untl > now then
  local wait = us(untl - now)
  local uf = untilFull()
  if uf > wait then reset = uf else reset = wait end
  return blockedReply(2, 0, wait, reset, wait)
end

if alg == 0 then
  local filled = tokensAt()
  local left = filled - cost
  local wait = dft(-left)
  if wait > 0 then
    retry = wait
    reset = dft(cap - filled)
  else
    stamp, level = now, left
    remaining = math.floor(left / cost)
    if remaining < 0 then remaining = 0 end
    if dft(cost * (remaining + 1) - left) == 0 then remaining = remaining + 1 end
    allowed, reason = 1, 0
    reset = dft(cap - left)
    redis.call('HSET', key, 's', fmt('%.0f', stamp), 'l', fmt('%.17g', level))
    wrote = true
  end
elseif alg == 1 then
  local k = fdiv(now, win)
  if k > stamp then stamp, level = k, 0 end
  local e = (stamp + 1) * win - now
  local count = level
  if count + cost > limit then
    remaining = tdiv(limit - count, cost)
    retry, reset = e, e
  else
    count = count + cost
    level = count
    allowed, reason = 1, 0
    remaining = tdiv(limit - count, cost)
    reset = e
    redis.call('HSET', key, 's', fmt('%.0f', stamp), 'l', fmt('%.0f', level))
    wrote = true
  end
else
  local j = fdiv(now, sub)
  local moved = false
  if stamp == nil then
    stamp, moved = j, true
  elseif j > stamp then
    stamp, moved = j, true
  end
  -- Sub-windows that left the window are zero: drop them.
  local stale = {}
  local sum = 0
  local idx = {}
  for i, c in pairs(slots) do
    if i <= stamp - n then
      stale[#stale + 1] = fmt('%.0f', i)
    else
      sum = sum + c
      idx[#idx + 1] = i
    end
  end
  for _, f in ipairs(stale) do slots[tonumber(f)] = nil end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) wrote = true end
  if moved then redis.call('HSET', key, 's', fmt('%.0f', stamp)) wrote = true end
  local jj = stamp
  if sum + cost > limit then
    local need = sum + cost - limit
    table.sort(idx)
    local freed = 0
    for _, i in ipairs(idx) do
      freed = freed + slots[i]
      if freed >= need then
        retry = (i + n) * sub - now
        break
      end
    end
    local room = limit - sum
    if room < 0 then room = 0 end
    remaining = tdiv(room, cost)
    reset = untilFull()
    -- The answer holds until the next sub-window starts at the latest.
    local nxt = (fdiv(now, sub) + 1) * sub - now
    if nxt < retry then cachefor = nxt end
  else
    slots[jj] = (slots[jj] or 0) + cost
    redis.call('HINCRBY', key, fmt('%.0f', jj), cost)
    wrote = true
    sum = sum + cost
    allowed, reason = 1, 0
    remaining = tdiv(limit - sum, cost)
    reset = (jj + n) * sub - now
  end
end

if allowed == 0 and block > 0 then
  untl = now + block
  local b = us(block)
  if b > retry then retry = b end
  if retry > reset then reset = retry end
  reason = 2
  cachefor = b
  redis.call('HSET', key, 'u', fmt('%.0f', untl))
  wrote = true
end

if wrote then
  -- core's Policy.TTL: until full (or the cooldown's end), plus a second.
  local ttl = untilFull()
  if alg == 0 then
    ttl = ttl / 1000
    -- A clock that went back: the bucket refills from its stamp, not now.
    if stamp > now then ttl = ttl + stamp - now end
  end
  if untl > now and untl - now > ttl then ttl = untl - now end
  redis.call('PEXPIRE', key, fmt('%.0f', math.floor(ttl / 1000) + 1001))
end
if allowed == 1 then
  return {1, 0, remaining, '0', out(reset), '0'}
end
return blockedReply(reason, remaining, retry, reset, cachefor or retry)
`

// decideScript is the script, with its SHA-1 computed once.
var decideScript = redis.NewScript(decideSrc)

// policyArgs is a policy translated into the script's arguments, checked
// once per policy.
type policyArgs struct {
	// The fields it was made from, to notice a changed policy.
	limit, burst, cost int64
	window, block      time.Duration
	alg                halt.Algorithm
	prec               int

	args [7]any // algorithm, limit, capacity, window_us, rate, block_us, sub-windows
	// suffix follows the hash tag in the key. The windows' state is
	// meaningless under another window or algorithm, so a changed policy
	// starts on fresh keys; the token bucket keeps its tokens, as
	// x/time/rate's SetLimit does.
	suffix string
	err    error
}

func (a *policyArgs) matches(p *halt.Policy) bool {
	return a.limit == p.Limit && a.burst == p.Burst && a.cost == p.Cost && a.window == p.Window &&
		a.block == p.BlockDuration && a.alg == p.Algorithm && a.prec == p.Precision
}

// newPolicyArgs checks that p's durations are whole microseconds (the
// script's clock) and prepares its arguments.
func newPolicyArgs(p *halt.Policy) *policyArgs {
	a := &policyArgs{
		limit: p.Limit, burst: p.Burst, cost: p.Cost, window: p.Window,
		block: p.BlockDuration, alg: p.Algorithm, prec: p.Precision,
	}
	n := int64(p.SubWindows())
	switch {
	case p.Window%time.Microsecond != 0:
		a.err = fmt.Errorf("haltredis: policy %q: window %v is not a whole number of microseconds", p.Name, p.Window)
	case p.BlockDuration%time.Microsecond != 0:
		a.err = fmt.Errorf("haltredis: policy %q: block duration %v is not a whole number of microseconds", p.Name, p.BlockDuration)
	case p.Algorithm == halt.SlidingWindow && (p.Window/time.Microsecond)%time.Duration(n) != 0:
		a.err = fmt.Errorf("haltredis: policy %q: sub-window %v/%d is not a whole number of microseconds", p.Name, p.Window, n)
	}
	// The rate exactly as core computes it, printed so that it parses back
	// to the same double.
	rate := float64(p.Limit) / p.Window.Seconds()
	a.args = [7]any{
		int64(p.Algorithm),
		strconv.FormatInt(p.Limit, 10),
		strconv.FormatInt(p.Capacity(), 10),
		strconv.FormatInt(int64(p.Window/time.Microsecond), 10),
		strconv.FormatFloat(rate, 'g', -1, 64),
		strconv.FormatInt(int64(p.BlockDuration/time.Microsecond), 10),
		n,
	}
	switch p.Algorithm {
	case halt.FixedWindow:
		a.suffix = ":fw" + strconv.FormatInt(int64(p.Window/time.Microsecond), 10)
	case halt.SlidingWindow:
		a.suffix = ":sw" + strconv.FormatInt(int64(p.Window/time.Microsecond), 10) + "." + strconv.FormatInt(n, 10)
	}
	return a
}
