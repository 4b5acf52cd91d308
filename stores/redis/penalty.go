package haltredis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
)

var _ halt.PenaltyStore = (*Store)(nil)

// penaltySuffix names a penalty state's Redis key: prefix + key + ":p".
const penaltySuffix = ":p"

// penaltySrc is core's PenaltyOp.Apply in Lua, on a hash with fields v (1),
// s (score, %.17g), t (its stamp, µs), u (until, µs), k (strike), l (the
// last penalty's start, µs) and b (banned, 0 or 1). The key expires when
// the state no longer matters (Apply's keep), plus a second.
//
// ARGV: kind ('0' read, '1' record, '2' ban, '3' unban), severity, ban_us,
// now_us ('0': Redis TIME), threshold, duration_us, decay (points per
// hour), escalation, memory_us, max_us. It returns {score, stamp, until,
// strike, last, banned, started, now} as strings.
const penaltySrc = `
local now = tonumber(ARGV[4])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local kind = ARGV[1]
local thr, dur, decay = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local esc, mem, maxd = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local s, t, u, k, l, b = 0, 0, 0, 0, 0, 0
local v = redis.call('HMGET', KEYS[1], 'v', 's', 't', 'u', 'k', 'l', 'b')
if v[1] == '1' then
  s, t, u, k, l, b = tonumber(v[2]), tonumber(v[3]), tonumber(v[4]), tonumber(v[5]), tonumber(v[6]), tonumber(v[7])
end
local function scoreAt()
  if s <= 0 or decay == 0 or now <= t then return math.max(0, s) end
  return math.max(0, s - decay * ((now - t) / 3.6e9))
end
local started = 0
if kind == '1' then
  s, t = scoreAt() + math.max(0, tonumber(ARGV[2])), now
  if u <= now and s >= thr then
    if k > 0 and now - l <= mem then k = k + 1 else k = 1 end
    local d = dur
    if esc > 1 and k > 1 then d = d * esc ^ (k - 1) end
    d = math.floor(math.min(d, maxd))
    u, l, b, s, started = now + d, now, 0, 0, 1
  end
elseif kind == '2' then
  local d = tonumber(ARGV[3])
  if d <= 0 then d = 3153600000000000 end
  u, b, started = now + d, 1, 1
elseif kind == '3' then
  u, b, s, t = 0, 0, 0, now
end
local fmt = string.format
if kind ~= '0' then
  local e = math.max(u, l + mem)
  if decay > 0 and s > 0 then
    e = math.max(e, t + math.floor(s / decay * 3.6e9) + 1)
  elseif s > 0 then
    e = math.max(e, now + 3153600000000000)
  end
  if e <= now then
    redis.call('DEL', KEYS[1])
  else
    redis.call('HSET', KEYS[1], 'v', '1', 's', fmt('%.17g', s), 't', fmt('%.0f', t), 'u', fmt('%.0f', u),
      'k', fmt('%.0f', k), 'l', fmt('%.0f', l), 'b', b)
    redis.call('PEXPIREAT', KEYS[1], math.floor(e / 1000) + 1000)
  end
end
return {fmt('%.17g', s), fmt('%.0f', t), fmt('%.0f', u), fmt('%.0f', k), fmt('%.0f', l), tostring(b), tostring(started), fmt('%.0f', now)}
`

var penaltyScript = redis.NewScript(penaltySrc)

// Penalty implements halt.PenaltyStore: one Lua script per operation,
// atomic in Redis, by Redis TIME (op.Now with WithCallerClock). The Redis
// key is prefix + key + ":p", a hash in the key's Cluster slot. It waits
// for Redis at most the store's timeout.
func (s *Store) Penalty(ctx context.Context, key []byte, op *halt.PenaltyOp) (halt.PenaltyState, int64, bool, error) {
	if s.closed.Load() {
		return halt.PenaltyState{}, 0, false, halt.ErrStoreClosed
	}
	prk := s.cfg.prefix + string(key) + penaltySuffix
	if err := s.refuse(prk); err != nil {
		return halt.PenaltyState{}, 0, false, err
	}
	c := op.Config
	var now int64
	if s.cfg.callerClock {
		now = op.Now.UnixMicro()
	}
	mem := c.Memory
	if mem == 0 {
		mem = 24 * time.Hour
	}
	maxd := c.PenaltyDuration(1 << 20) // the cap
	esc := strconv.FormatFloat(c.Escalation, 'g', -1, 64)
	began := s.clock()
	tctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	v, err := penaltyScript.Run(tctx, s.client, []string{prk}, int(op.Kind),
		strconv.FormatFloat(op.Severity, 'g', -1, 64), op.Duration.Microseconds(), now,
		strconv.FormatFloat(c.Threshold, 'g', -1, 64), c.Duration.Microseconds(),
		strconv.FormatFloat(c.DecayRate, 'g', -1, 64), esc, mem.Microseconds(), maxd.Microseconds()).Result()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (%v): %w", ErrTimeout, s.cfg.timeout, err)
		}
		s.failedOn(ctx, prk, began, err)
		return halt.PenaltyState{}, 0, false, fmt.Errorf("haltredis: penalty %q: %w", key, err)
	}
	s.replied(prk)
	a, ok := v.([]any)
	if !ok || len(a) != 8 {
		return halt.PenaltyState{}, 0, false, fmt.Errorf("haltredis: penalty script answered %v", v)
	}
	var f [8]string
	for i := range a {
		if f[i], ok = a[i].(string); !ok {
			return halt.PenaltyState{}, 0, false, fmt.Errorf("haltredis: penalty script answered %v", v)
		}
	}
	score, err1 := strconv.ParseFloat(f[0], 64)
	var n [7]int64
	var errs = []error{err1}
	for i := 1; i < 8; i++ {
		var e error
		n[i-1], e = strconv.ParseInt(f[i], 10, 64)
		errs = append(errs, e)
	}
	if err := errors.Join(errs...); err != nil {
		return halt.PenaltyState{}, 0, false, fmt.Errorf("haltredis: penalty script answered %v: %w", v, err)
	}
	st := halt.PenaltyState{Score: score, Stamp: n[0], Until: n[1], Strike: n[2], Last: n[3], Banned: n[4] == 1}
	return st, n[6], n[5] == 1, nil
}
