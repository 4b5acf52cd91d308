package haltredis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
)

// stateVersion is the layout of the values the scripts write, the version
// byte that leads each one. It is the layout of core's State version 1
// (halt.StateVersion); a test fails when core moves on, so that the scripts
// are reviewed with it.
const stateVersion = 1

// The decision is core's Policy.Decide in Lua, written once, as three
// snippets the scripts are assembled from by plain concatenation:
//
//   - decidePrologue reads the clock (ARGV[1], or Redis TIME) and binds the
//     helpers every decision uses;
//   - decideOneKey names the one key, KEYS[1], and reads its value;
//   - decideBody decides for that value: it reads the policy's arguments
//     (ARGV[2] to ARGV[7]), decides, writes the new state with a TTL
//     (core's Policy.TTL) and returns the answer.
//
// Take's script, decideSrc, is "local PEEK = false" followed by the three,
// in line, as one straight chunk with no function call (local functions
// and string patterns cost more than the math). Peek's, peekSrc, is the
// same with "local PEEK = true". TakeAll's, takeAllSrc, is built at init
// from the same decideBody, wrapped in a function that decides one key of
// many (see takeAllSrc): the algorithms exist once.
//
// The body returns one string of space-separated decimal fields:
//
//	allowed reason remaining retry_after_ns reset_after_ns valid_ns [now_us [stamp level until_us]]
//
// valid_ns is how long a blocked answer stays true if nothing else changes
// the key (for a cooldown, its length). Blocked answers add the script's
// clock and, for the token bucket and fixed window, the key's state, for
// the over-limit cache.
//
// With PEEK true the body is core's Policy.Peek: Decide's answer with
// block taken as 0 (a cooldown the answer would start is left out) and
// nothing written; when it admits, remaining counts the request it took as
// well and reset_after is the time until the state as it stands is full. A
// constant local costs the decision nothing measurable, and the decision
// keeps its arguments.
//
// Lua numbers are doubles. Instants are microseconds (about 1.8e15 today,
// below 2^53, so integer arithmetic on them is exact); the token bucket's
// float arithmetic is done in nanoseconds in the same order as core (and
// golang.org/x/time/rate), so both round identically. Durations of the
// fixed and sliding windows stay in whole microseconds and are printed with
// three zeros appended; the token bucket's are printed from the truncated
// double, as time.Duration(float64) truncates. Every value is printed with
// %.0f or %.17g, which are exact.
//
// State is one string per key, so one GET and one SET ... PX per decision:
// a version byte (stateVersion, 1) and then little-endian doubles (Lua's
// struct library, format '<Bddd' or '<Bdd' followed by n 'd'):
//
//	token bucket:   1, stamp (µs of the last admission, 0 for none), level (tokens), until (µs)   25 bytes
//	fixed window:   1, stamp (window index), level (count), until (µs)                           25 bytes
//	sliding window: 1, stamp (newest sub-window index), until (µs), then n counts,
//	                a ring by sub-window index mod n                                             1+8(n+2) bytes
//
// A value of another length or version byte (an older layout, another
// policy's) is read as a key never seen and overwritten by the next write.
//
// ARGV: now_us (0: Redis TIME), then the policy's six: cost, algorithm ('0'
// token bucket, '1' fixed window, '2' sliding window), capacity (the
// windows' limit), then rate (tokens per second, shortest round-trip
// decimal) for the token bucket or window_us for the windows, block_us, and
// sub-windows for the sliding window (absent, or ignored, for the others).
// A cost above capacity answers reason 3 with retry_after 0: no wait helps.
const decidePrologue = `
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local fmt = string.format
local floor = math.floor
local MAXTTL = 1e13
`

// decideOneKey is the key of Take and Peek, and its value (see
// decidePrologue).
const decideOneKey = `local key = KEYS[1]
local v = redis.call('GET', key)
`

// decideBody decides key's value v at now (see decidePrologue). Its only
// write is the "redis.call('SET', key, " of setCall, and it reads its
// arguments as "ARGV[" 2 to 7: TakeAll's script rewrites both.
const decideBody = `local cost = tonumber(ARGV[2])
local alg = ARGV[3]
local cap = tonumber(ARGV[4])
local block = tonumber(ARGV[6])
if PEEK then block = 0 end
if alg == '0' then
  -- Token bucket, in nanosecond doubles, as core's tokensAt,
  -- durationFromTokens (d = tokens / rate * 1e9, truncated) and tokenBucket.
  local rate = tonumber(ARGV[5])
  local stamp, level, untl = 0, 0, 0
  if v and #v == 25 and string.byte(v) == 1 then stamp, level, untl = struct.unpack('<ddd', v, 2) end
  local filled = cap
  local full = 0
  if stamp ~= 0 then
    local d = now - stamp
    if d < 0 then d = 0 end
    local sec = floor(d / 1000000)
    if sec * 1000000 > d then sec = sec - 1 elseif (sec + 1) * 1000000 <= d then sec = sec + 1 end
    -- time.Duration.Seconds: float64(sec) + float64(nsec)/1e9
    filled = level + (sec + ((d - sec * 1000000) * 1000) / 1e9) * rate
    if filled > cap then filled = cap end
    if cap - filled > 0 then full = floor((cap - filled) / rate * 1e9) end
  end
  if cost > cap then
    return fmt('0 3 0 0 %.0f 0', full)
  end
  if untl > now then
    -- Whole microseconds printed with three zeros: in nanoseconds, a
    -- cooldown beyond 2^53 ns (104 days) is not exact in a double.
    local wait = fmt('%.0f000', untl - now)
    local reset = wait
    if full > (untl - now) * 1000 then reset = fmt('%.0f', full) end
    return fmt('0 2 0 %s %s %s %.0f %.0f %.17g %.0f', wait, reset, wait, now, stamp, level, untl)
  end
  local left = filled - cost
  local wait = 0
  if left < 0 then wait = floor(-left / rate * 1e9) end
  -- MaxWait (ns), the token bucket's seventh argument: a request whose
  -- token is due within it reserves the token, into debt, and waits.
  local mw = 0
  if not PEEK then mw = tonumber(ARGV[7]) or 0 end
  if wait > 0 and wait <= mw then
    local reset = floor((cap - left) / rate * 1e9)
    local ttl = reset / 1e6
    if ttl > MAXTTL then ttl = MAXTTL end
    redis.call('SET', key, struct.pack('<Bddd', 1, now, left, untl), 'PX', fmt('%.0f', floor(ttl) + 1001))
    return fmt('1 0 0 %.0f %.0f 0', wait, reset)
  end
  if wait > 0 then
    local retry, reset, reason, valid = fmt('%.0f', wait - mw), fmt('%.0f', full), 1, fmt('%.0f', wait - mw)
    if block > 0 then
      untl = now + block
      -- As the cooldown above: the block in microseconds, exact.
      local b = fmt('%.0f000', block)
      local rv = wait - mw
      if block * 1000 > rv then retry, rv = b, block * 1000 end
      if rv >= full then reset = retry end
      reason, valid = 2, b
      local ttl = full / 1e6
      if stamp > now then ttl = ttl + (stamp - now) / 1000 end
      if block / 1000 > ttl then ttl = block / 1000 end
      if ttl > MAXTTL then ttl = MAXTTL end
      redis.call('SET', key, struct.pack('<Bddd', 1, stamp, level, untl), 'PX', fmt('%.0f', floor(ttl) + 1001))
    end
    return fmt('0 %d 0 %s %s %s %.0f %.0f %.17g %.0f', reason, retry, reset, valid, now, stamp, level, untl)
  end
  local remaining = floor(left / cost)
  if remaining < 0 then remaining = 0 end
  local y = cost * (remaining + 1) - left
  if y <= 0 or floor(y / rate * 1e9) == 0 then remaining = remaining + 1 end
  if PEEK then
    -- The standing: those a take would leave plus the one it took, and
    -- the time until the bucket, as it is, is full.
    return fmt('1 0 %.0f 0 %.0f 0', remaining + 1, full)
  end
  local reset = 0
  if cap - left > 0 then reset = floor((cap - left) / rate * 1e9) end
  local ttl = reset / 1e6
  if ttl > MAXTTL then ttl = MAXTTL end
  redis.call('SET', key, struct.pack('<Bddd', 1, now, left, untl), 'PX', fmt('%.0f', floor(ttl) + 1001))
  return fmt('1 0 %.0f 0 %.0f 0', remaining, reset)

elseif alg == '1' then
  -- Fixed window, in whole microseconds (exact below 2^53).
  local limit = cap
  local win = tonumber(ARGV[5])
  local stamp, count, untl = 0, 0, 0
  if v and #v == 25 and string.byte(v) == 1 then stamp, count, untl = struct.unpack('<ddd', v, 2) end
  local k = floor(now / win)
  if k * win > now then k = k - 1 elseif (k + 1) * win <= now then k = k + 1 end
  local full = 0
  if PEEK or cost > cap or untl > now then
    if stamp >= k and count ~= 0 then full = (stamp + 1) * win - now end
    if cost > cap then
      return fmt('0 3 0 0 %.0f000 0', full)
    end
    if untl > now then
      local wait = untl - now
      local reset = wait
      if full > reset then reset = full end
      return fmt('0 2 0 %.0f000 %.0f000 %.0f000 %.0f %.0f %.0f %.0f', wait, reset, wait, now, stamp, count, untl)
    end
  end
  if k > stamp then stamp, count = k, 0 end
  local e = (stamp + 1) * win - now
  if count + cost > limit then
    local rem = limit - count
    if rem >= 0 then rem = floor(rem / cost) else rem = -floor(-rem / cost) end
    local retry, reset, reason, valid = e, e, 1, e
    if block > 0 then
      untl = now + block
      if block > retry then retry = block end
      if retry > reset then reset = retry end
      reason, valid = 2, block
      local ttl = block
      if count ~= 0 and e > ttl then ttl = e end
      redis.call('SET', key, struct.pack('<Bddd', 1, stamp, count, untl), 'PX', fmt('%.0f', floor(ttl / 1000) + 1001))
    end
    return fmt('0 %d %.0f %.0f000 %.0f000 %.0f000 %.0f %.0f %.0f %.0f', reason, rem, retry, reset, valid, now, stamp, count, untl)
  end
  count = count + cost
  local rem = limit - count
  if rem >= 0 then rem = floor(rem / cost) else rem = -floor(-rem / cost) end
  if PEEK then
    return fmt('1 0 %.0f 0 %.0f000 0', rem + 1, full)
  end
  redis.call('SET', key, struct.pack('<Bddd', 1, stamp, count, untl), 'PX', fmt('%.0f', floor(e / 1000) + 1001))
  return fmt('1 0 %.0f 0 %.0f000 0', rem, e)

else
  -- Sliding window, in whole microseconds: the newest sub-window index,
  -- the cooldown's end and a ring of n counts indexed by sub-window mod n,
  -- exactly as core's State.
  local limit = cap
  local win = tonumber(ARGV[5])
  local n = tonumber(ARGV[7])
  local sub = win / n
  local layout = string.rep('d', n + 2)
  local st
  local fresh = true
  if v and #v == 8 * (n + 2) + 1 and string.byte(v) == 1 then
    st = {struct.unpack('<' .. layout, v, 2)}
    fresh = false
  else
    st = {0, 0}
    for q = 3, n + 2 do st[q] = 0 end
  end
  local stamp, untl = st[1], st[2]
  local full = 0
  if PEEK or cost > cap or untl > now then
    if not fresh then
      for i = stamp, stamp - n + 1, -1 do
        local m = i % n
        if m < 0 then m = m + n elseif m >= n then m = m - n end
        if st[3 + m] ~= 0 then
          full = (i + n) * sub - now
          if full < 0 then full = 0 end
          break
        end
      end
    end
    if cost > cap then
      return fmt('0 3 0 0 %.0f000 0', full)
    end
    if untl > now then
      local wait = untl - now
      local reset = wait
      if full > reset then reset = full end
      return fmt('0 2 0 %.0f000 %.0f000 %.0f000 %.0f', wait, reset, wait, now)
    end
  end
  local j = floor(now / sub)
  if j * sub > now then j = j - 1 elseif (j + 1) * sub <= now then j = j + 1 end
  local jnow = j
  local moved = true
  if fresh then
    stamp = j
  elseif j - stamp >= n then
    for q = 3, n + 2 do st[q] = 0 end
    stamp = j
  elseif j > stamp then
    for i = stamp + 1, j do
      local m = i % n
      if m < 0 then m = m + n elseif m >= n then m = m - n end
      st[3 + m] = 0
    end
    stamp = j
  else
    moved = false
  end
  j = stamp -- a clock that went back counts in the newest sub-window
  st[1] = stamp
  local sum = 0
  for q = 3, n + 2 do sum = sum + st[q] end
  if sum + cost > limit then
    local need = sum + cost - limit
    local freed = 0
    local retry = 0
    for i = j - n + 1, j do
      local m = i % n
      if m < 0 then m = m + n elseif m >= n then m = m - n end
      freed = freed + st[3 + m]
      if freed >= need then
        retry = (i + n) * sub - now
        break
      end
    end
    local rem = limit - sum
    if rem < 0 then rem = 0 end
    rem = floor(rem / cost)
    local reset = 0
    for i = stamp, stamp - n + 1, -1 do
      local m = i % n
      if m < 0 then m = m + n elseif m >= n then m = m - n end
      if st[3 + m] ~= 0 then
        reset = (i + n) * sub - now
        if reset < 0 then reset = 0 end
        break
      end
    end
    local reason = 1
    -- The answer holds until the next sub-window starts at the latest.
    local valid = (jnow + 1) * sub - now
    if retry < valid then valid = retry end
    if block > 0 then
      untl = now + block
      st[2] = untl
      if block > retry then retry = block end
      if retry > reset then reset = retry end
      reason, valid = 2, block
    end
    if (block > 0 or moved) and not PEEK then
      local ttl = reset
      if untl - now > ttl then ttl = untl - now end
      redis.call('SET', key, struct.pack('<B' .. layout, 1, unpack(st, 1, n + 2)), 'PX', fmt('%.0f', floor(ttl / 1000) + 1001))
    end
    return fmt('0 %d %.0f %.0f000 %.0f000 %.0f000 %.0f', reason, rem, retry, reset, valid, now)
  end
  local m = j % n
  if m < 0 then m = m + n elseif m >= n then m = m - n end
  st[3 + m] = st[3 + m] + cost
  sum = sum + cost
  local rem = limit - sum
  if rem >= 0 then rem = floor(rem / cost) else rem = -floor(-rem / cost) end
  if PEEK then
    return fmt('1 0 %.0f 0 %.0f000 0', rem + 1, full)
  end
  local reset = (j + n) * sub - now
  local ttl = reset
  if untl - now > ttl then ttl = untl - now end
  redis.call('SET', key, struct.pack('<B' .. layout, 1, unpack(st, 1, n + 2)), 'PX', fmt('%.0f', floor(ttl / 1000) + 1001))
  return fmt('1 0 %.0f 0 %.0f000 0', rem, reset)
end
`

// decideSrc is the decision script (see decidePrologue).
const decideSrc = "local PEEK = false\n" + decidePrologue + decideOneKey + decideBody

// peekSrc is the read-only decision script, core's Policy.Peek.
const peekSrc = "local PEEK = true\n" + decidePrologue + decideOneKey + decideBody

// MaxTakeAll is the most keys one TakeAll decides: the script's work, and
// its ARGV (1 + 6 per key), stay bounded.
const MaxTakeAll = 16

// takeAllArgs is how many arguments each key of a TakeAll takes, after
// the shared now_us: the decision script's ARGV[2] to ARGV[7].
const takeAllArgs = 6

// setCall is the decision body's one way of writing its key.
const setCall = "redis.call('SET', key, "

// takeAllSrc decides several keys, all or nothing, in one script (TakeAll).
// KEYS[1..N], N at most MaxTakeAll, are the keys; ARGV[1] is now_us as for
// Take, and key i's policy has ARGV[o+2] to ARGV[o+7] with o = 6(i-1):
// the decision script's ARGV for that key, every key padded to six (one
// key's ARGV is Take's). It returns an array of N answers, each in the
// decision script's format.
//
// It is decideBody itself, made the body of a function decide(v, o, PEEK)
// by two rewrites: its arguments are read at offset o ("ARGV[" becomes
// "ARGV[o + "), and its write is remembered instead of made (setCall
// becomes a call of pend). The script reads every value with one MGET,
// decides each key in turn on the value it read, and then:
//
//   - when every key admitted, writes every remembered SET: each key
//     records what its own Take would have;
//   - otherwise writes only the rejecting keys' SETs (a cooldown their
//     rejection starts, a sliding window that moved on: exactly what Take
//     writes for that rejection) and answers each admitting key again,
//     with PEEK true: its standing, unchanged, as Peek reports it.
//
// No decision sees another's write (all are written at the end), so a key
// passed twice decides twice on the same value. All keys must be in one
// Cluster slot (TakeAll checks that they share a hash tag).
var takeAllSrc = decidePrologue + `local nk = #KEYS
local vals = redis.call('MGET', unpack(KEYS))
local wv, wt
local function pend(x, _, t) wv, wt = x, t end
local function decide(v, o, PEEK)
` + strings.ReplaceAll(strings.ReplaceAll(decideBody, "ARGV[", "ARGV[o + "), setCall, "pend(") + `end
local out, pv, pt = {}, {}, {}
local all = true
for i = 1, nk do
  wv = false
  out[i] = decide(vals[i], 6 * i - 6, false)
  pv[i], pt[i] = wv, wt
  if string.byte(out[i]) ~= 49 then all = false end
end
for i = 1, nk do
  if all or string.byte(out[i]) ~= 49 then
    if pv[i] then redis.call('SET', KEYS[i], pv[i], 'PX', pt[i]) end
  else
    out[i] = decide(vals[i], 6 * i - 6, true)
  end
end
return out
`

// refundSrc is core's Policy.Refund as a Lua script: it gives cost back to
// the key's state, with the decision script's ARGV (block_us is unused) and
// value format, and the same clock. Token bucket: level += cost, at most
// capacity, stamp unchanged; fixed window: count -= cost, not below 0, if
// the stored window is the current one; sliding window: the counts of the
// newest sub-windows still inside the window, newest first. The cooldown
// stays. A key never seen (absent, or a value of another layout) is full
// and is left alone, as is a state the refund does not change; otherwise
// the state is written with core's Policy.TTL, recomputed at now. It
// returns 1 when it wrote the key, 0 otherwise.
const refundSrc = `
local key = KEYS[1]
local v = redis.call('GET', key)
if not v or string.byte(v) ~= 1 then return 0 end
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local cost = tonumber(ARGV[2])
local alg = ARGV[3]
local cap = tonumber(ARGV[4])
local fmt = string.format
local floor = math.floor
local MAXTTL = 1e13

if alg == '0' then
  if #v ~= 25 then return 0 end
  local stamp, level, untl = struct.unpack('<ddd', v, 2)
  if stamp == 0 then return 0 end -- a full bucket
  local rate = tonumber(ARGV[5])
  level = level + cost
  if level > cap then level = cap end
  -- The TTL as the decision script's: the time until full at now ...
  local d = now - stamp
  if d < 0 then d = 0 end
  local sec = floor(d / 1000000)
  if sec * 1000000 > d then sec = sec - 1 elseif (sec + 1) * 1000000 <= d then sec = sec + 1 end
  local filled = level + (sec + ((d - sec * 1000000) * 1000) / 1e9) * rate
  if filled > cap then filled = cap end
  local ttl = 0
  if cap - filled > 0 then ttl = floor((cap - filled) / rate * 1e9) / 1e6 end
  -- ... plus a clock that went back, and at least the cooldown.
  if stamp > now then ttl = ttl + (stamp - now) / 1000 end
  if (untl - now) / 1000 > ttl then ttl = (untl - now) / 1000 end
  if ttl > MAXTTL then ttl = MAXTTL end
  redis.call('SET', key, struct.pack('<Bddd', 1, stamp, level, untl), 'PX', fmt('%.0f', floor(ttl) + 1001))
  return 1

elseif alg == '1' then
  if #v ~= 25 then return 0 end
  local stamp, count, untl = struct.unpack('<ddd', v, 2)
  local win = tonumber(ARGV[5])
  local k = floor(now / win)
  if k * win > now then k = k - 1 elseif (k + 1) * win <= now then k = k + 1 end
  if stamp ~= k or count == 0 then return 0 end -- another window's count, or none
  count = count - cost
  if count < 0 then count = 0 end
  local ttl = 0
  if count ~= 0 then ttl = (stamp + 1) * win - now end
  if untl - now > ttl then ttl = untl - now end
  redis.call('SET', key, struct.pack('<Bddd', 1, stamp, count, untl), 'PX', fmt('%.0f', floor(ttl / 1000) + 1001))
  return 1

else
  local win = tonumber(ARGV[5])
  local n = tonumber(ARGV[7])
  if #v ~= 8 * (n + 2) + 1 then return 0 end
  local layout = string.rep('d', n + 2)
  local st = {struct.unpack('<' .. layout, v, 2)}
  local stamp, untl = st[1], st[2]
  local sub = win / n
  local j = floor(now / sub)
  if j * sub > now then j = j - 1 elseif (j + 1) * sub <= now then j = j + 1 end
  local oldest = j - n + 1
  local changed = false
  local i = stamp
  while cost > 0 and i > stamp - n and i >= oldest do
    local m = i % n
    if m < 0 then m = m + n elseif m >= n then m = m - n end
    local back = st[3 + m]
    if back > cost then back = cost end
    if back > 0 then
      st[3 + m] = st[3 + m] - back
      cost = cost - back
      changed = true
    end
    i = i - 1
  end
  if not changed then return 0 end
  -- The TTL: until the newest sub-window with a count leaves, at least the cooldown.
  local ttl = 0
  for q = stamp, stamp - n + 1, -1 do
    local m = q % n
    if m < 0 then m = m + n elseif m >= n then m = m - n end
    if st[3 + m] ~= 0 then
      ttl = (q + n) * sub - now
      if ttl < 0 then ttl = 0 end
      break
    end
  end
  if untl - now > ttl then ttl = untl - now end
  redis.call('SET', key, struct.pack('<B' .. layout, 1, unpack(st, 1, n + 2)), 'PX', fmt('%.0f', floor(ttl / 1000) + 1001))
  return 1
end
`

// The scripts, with their SHA-1s computed once.
var (
	decideScript  = redis.NewScript(decideSrc)
	peekScript    = redis.NewScript(peekSrc)
	refundScript  = redis.NewScript(refundSrc)
	takeAllScript = redis.NewScript(takeAllSrc)
)

// policyArgs is a policy translated into the script's arguments, checked
// once per policy.
type policyArgs struct {
	// The fields it was made from, to notice a changed policy.
	limit, burst, cost int64
	window, block      time.Duration
	maxWait            time.Duration
	alg                halt.Algorithm
	prec               int

	args  [5]any // the script's ARGV after now and cost (see decideSrc)
	nargs int
	// suffix follows the limiter's key. The windows' state is
	// meaningless under another window or algorithm, so a changed policy
	// starts on fresh keys; the token bucket keeps its tokens, as
	// x/time/rate's SetLimit does.
	suffix string
	err    error
}

func (a *policyArgs) matches(p *halt.Policy) bool {
	return a.limit == p.Limit && a.burst == p.Burst && a.cost == p.Cost && a.window == p.Window &&
		a.block == p.BlockDuration && a.alg == p.Algorithm && a.prec == p.Precision && a.maxWait == p.MaxWait
}

// newPolicyArgs checks that p's durations are whole microseconds (the
// script's clock) and prepares its arguments.
func newPolicyArgs(p *halt.Policy) *policyArgs {
	a := &policyArgs{
		limit: p.Limit, burst: p.Burst, cost: p.Cost, window: p.Window,
		block: p.BlockDuration, alg: p.Algorithm, prec: p.Precision, maxWait: p.MaxWait,
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
	block := strconv.FormatInt(int64(p.BlockDuration/time.Microsecond), 10)
	win := strconv.FormatInt(int64(p.Window/time.Microsecond), 10)
	capacity := strconv.FormatInt(p.Capacity(), 10)
	switch p.Algorithm {
	case halt.FixedWindow:
		a.args, a.nargs = [5]any{"1", capacity, win, block}, 4
	case halt.SlidingWindow:
		a.args, a.nargs = [5]any{"2", capacity, win, block, strconv.FormatInt(n, 10)}, 5
	default:
		a.args, a.nargs = [5]any{"0", capacity, strconv.FormatFloat(rate, 'g', -1, 64), block}, 4
		if p.MaxWait > 0 {
			a.args[4], a.nargs = strconv.FormatInt(int64(p.MaxWait), 10), 5
		}
	}
	switch p.Algorithm {
	case halt.FixedWindow:
		a.suffix = ":fw" + strconv.FormatInt(int64(p.Window/time.Microsecond), 10)
	case halt.SlidingWindow:
		a.suffix = ":sw" + strconv.FormatInt(int64(p.Window/time.Microsecond), 10) + "." + strconv.FormatInt(n, 10)
	}
	return a
}

// ScriptSource returns the Lua source of the decision script, for
// inspection and for measuring it alone (redis-benchmark, SCRIPT LOAD).
// Its arguments are described in the package's README.
func ScriptSource() string { return decideSrc }
