package haltredis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
)

var (
	_ halt.Charger = (*Store)(nil)
	_ halt.Leaser  = (*Store)(nil)
)

// chargeSrc is core's Policy.Charge as a Lua script, with the decision
// script's ARGV, value format and clock: it records cost without deciding.
// Token bucket: the level refilled to now, minus cost (below zero is debt);
// fixed window: the current window's count plus cost; sliding window: the
// newest sub-window (after moving to now) plus cost. The cooldown stays.
// The state is written with core's Policy.TTL. It returns 1.
const chargeSrc = `
local key = KEYS[1]
local v = redis.call('GET', key)
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
  local rate = tonumber(ARGV[5])
  local stamp, level, untl = 0, 0, 0
  if v and #v == 25 and string.byte(v) == 1 then stamp, level, untl = struct.unpack('<ddd', v, 2) end
  local filled = cap
  if stamp ~= 0 then
    local d = now - stamp
    if d < 0 then d = 0 end
    local sec = floor(d / 1000000)
    if sec * 1000000 > d then sec = sec - 1 elseif (sec + 1) * 1000000 <= d then sec = sec + 1 end
    filled = level + (sec + ((d - sec * 1000000) * 1000) / 1e9) * rate
    if filled > cap then filled = cap end
  end
  if now > stamp then stamp = now end
  level = filled - cost
  local ttl = 0
  if cap - level > 0 then ttl = floor((cap - level) / rate * 1e9) / 1e6 end
  if stamp > now then ttl = ttl + (stamp - now) / 1000 end
  if (untl - now) / 1000 > ttl then ttl = (untl - now) / 1000 end
  if ttl > MAXTTL then ttl = MAXTTL end
  redis.call('SET', key, struct.pack('<Bddd', 1, stamp, level, untl), 'PX', fmt('%.0f', floor(ttl) + 1001))
  return 1

elseif alg == '1' then
  local win = tonumber(ARGV[5])
  local stamp, count, untl = 0, 0, 0
  if v and #v == 25 and string.byte(v) == 1 then stamp, count, untl = struct.unpack('<ddd', v, 2) end
  local k = floor(now / win)
  if k * win > now then k = k - 1 elseif (k + 1) * win <= now then k = k + 1 end
  if k > stamp then stamp, count = k, 0 end
  count = count + cost
  local ttl = (stamp + 1) * win - now
  if untl - now > ttl then ttl = untl - now end
  redis.call('SET', key, struct.pack('<Bddd', 1, stamp, count, untl), 'PX', fmt('%.0f', floor(ttl / 1000) + 1001))
  return 1

else
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
  local j = floor(now / sub)
  if j * sub > now then j = j - 1 elseif (j + 1) * sub <= now then j = j + 1 end
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
  end
  st[1] = stamp
  local m = stamp % n
  if m < 0 then m = m + n elseif m >= n then m = m - n end
  st[3 + m] = st[3 + m] + cost
  local ttl = (stamp + n) * sub - now
  if ttl < 0 then ttl = 0 end
  if untl - now > ttl then ttl = untl - now end
  redis.call('SET', key, struct.pack('<B' .. layout, 1, unpack(st, 1, n + 2)), 'PX', fmt('%.0f', floor(ttl / 1000) + 1001))
  return 1
end
`

// acquireSrc takes an in-flight lease: KEYS[1] is a sorted set of lease
// ids scored by their expiry (µs). ARGV: now_us (0: Redis TIME), the
// limit, the lease length (µs) and the lease id. Expired leases go first;
// then, with fewer than limit held, the id is added and the set's TTL
// covers its newest lease (relative to the script's clock, so a caller
// clock that disagrees with Redis's cannot expire the set early). It answers "1 <remaining>" or "0 <retry_us>",
// where retry is one second or less when the first lease expires sooner.
const acquireSrc = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local limit = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now))
local n = redis.call('ZCARD', key)
if n >= limit then
  local retry = 1000000
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) - now < retry then retry = tonumber(first[2]) - now end
  return string.format('0 %.0f', retry)
end
redis.call('ZADD', key, string.format('%.0f', now + lease), ARGV[4])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', key, string.format('%.0f', math.floor((tonumber(last[2]) - now) / 1000) + 1000))
return string.format('1 %d', limit - n - 1)
`

var (
	chargeScript  = redis.NewScript(chargeSrc)
	acquireScript = redis.NewScript(acquireSrc)
)

// leaseSuffix follows the limiter's key in the Redis key of an InFlight
// policy's leases (a sorted set, not a decision state).
const leaseSuffix = ":leases"

// Charge implements halt.Charger: it takes cost (0: the policy's cost)
// from key at now without deciding, in one script with core's
// Policy.Charge arithmetic and the same clock as Take, so the key may go
// into debt. The key's over-limit cache entry is dropped.
func (s *Store) Charge(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) error {
	if cost <= 0 {
		cost = p.RequestCost()
	}
	rk, pa, err := s.prepare(key, p)
	if err != nil {
		return err
	}
	args := make([]any, 0, 7)
	args = append(args, s.clockArg(now), cost)
	args = append(args, pa.args[:pa.nargs]...)
	_, err = s.runFlow(ctx, chargeScript, "charge", key, rk, args...)
	if s.cache != nil {
		s.cache.drop(rk)
	}
	return err
}

// Acquire implements halt.Leaser: one script on a sorted set of leases
// scored by expiry, so the leases of a crashed instance expire by
// themselves p.Window after they were taken (the key's own TTL follows
// its newest lease). With the default server clock, now is not used.
func (s *Store) Acquire(ctx context.Context, key []byte, p *halt.Policy, now time.Time, id uint64) (halt.Result, error) {
	if s.closed.Load() {
		return halt.Result{}, halt.ErrStoreClosed
	}
	if p.Window%time.Microsecond != 0 {
		return halt.Result{}, fmt.Errorf("haltredis: policy %q: lease %v is not a whole number of microseconds", p.Name, p.Window)
	}
	rk := s.cfg.prefix + string(key) + leaseSuffix
	if err := s.refuse(rk); err != nil {
		return halt.Result{}, err
	}
	v, err := s.runFlow(ctx, acquireScript, "acquire", key, rk, s.clockArg(now), p.Limit,
		int64(p.Window/time.Microsecond), strconv.FormatUint(id, 10))
	if err != nil {
		return halt.Result{}, err
	}
	str, _ := v.(string)
	flag, num, ok := strings.Cut(str, " ")
	x, perr := strconv.ParseInt(num, 10, 64)
	if !ok || perr != nil {
		return halt.Result{}, fmt.Errorf("haltredis: acquire script answered %v", v)
	}
	if flag == "1" {
		return halt.Result{Allowed: true, Remaining: x}, nil
	}
	retry := time.Duration(x) * time.Microsecond
	return halt.Result{Reason: halt.ReasonLimited, RetryAfter: retry, ResetAfter: retry}, nil
}

// Release implements halt.Leaser: it removes lease id from key's set.
func (s *Store) Release(ctx context.Context, key []byte, _ *halt.Policy, id uint64) error {
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	rk := s.cfg.prefix + string(key) + leaseSuffix
	if err := s.refuse(rk); err != nil {
		return err
	}
	began := s.clock()
	tctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	err := s.client.ZRem(tctx, rk, strconv.FormatUint(id, 10)).Err()
	return s.flowErr(ctx, "release", key, rk, began, err)
}

// clockArg is the scripts' now_us: the caller's instant with
// WithCallerClock, otherwise 0 (Redis TIME).
func (s *Store) clockArg(now time.Time) int64 {
	if s.cfg.callerClock {
		return now.UnixMicro()
	}
	return 0
}

// runFlow runs script on rk within the store's timeout and handles its
// failure as every operation does.
func (s *Store) runFlow(ctx context.Context, script *redis.Script, op string, key []byte, rk string, args ...any) (any, error) {
	began := s.clock()
	tctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	v, err := script.Run(tctx, s.client, []string{rk}, args...).Result()
	return v, s.flowErr(ctx, op, key, rk, began, err)
}

// flowErr reports the outcome of one call begun at began to the health of
// rk's node, as every operation does, and wraps a failure.
func (s *Store) flowErr(ctx context.Context, op string, key []byte, rk string, began int64, err error) error {
	if err == nil {
		s.replied(rk)
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = fmt.Errorf("%w (%v): %w", ErrTimeout, s.cfg.timeout, err)
	}
	s.failedOn(ctx, rk, began, err)
	return fmt.Errorf("haltredis: %s %q: %w", op, key, err)
}
