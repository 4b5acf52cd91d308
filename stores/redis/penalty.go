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

var _ halt.PenaltyStore = (*Store)(nil)

// penaltySuffix names a penalty state's Redis key: prefix + key + ":p".
const penaltySuffix = ":p"

// appendPenaltyKey appends the Redis key of the penalty state at key.
func (s *Store) appendPenaltyKey(dst, key []byte) []byte {
	return append(append(append(dst, s.cfg.prefix...), key...), penaltySuffix...)
}

// The penalty state is core's PenaltyState on a hash with fields v (1),
// s (score, %.17g), t (its stamp, µs), u (until, µs), k (strike), l (the
// last penalty's start, µs) and b (banned, 0 or 1). Its operations are
// core's PenaltyOp.Apply in Lua, written once as two snippets that the
// penalty script and TakePenalized's script share:
//
//   - penaltyReadSrc reads the hash at pkey into the locals psc, pts,
//     pun, pstk, plast and pban;
//   - penaltyApplySrc applies the op kind ('0' read, '1' record, '2' ban,
//     '3' unban) at now with sev (severity), banus (ban µs), thr, dur
//     (µs), decay (points per hour), esc, mem (µs) and maxd (the cap, µs),
//     writes the state (unless kind is '0') with a TTL of Apply's keep
//     plus a second, or deletes it when it no longer matters, and leaves
//     the answer in preply: "score stamp until strike last banned started
//     now".
const penaltyReadSrc = `
local psc, pts, pun, pstk, plast, pban = 0, 0, 0, 0, 0, 0
local pv = redis.call('HMGET', pkey, 'v', 's', 't', 'u', 'k', 'l', 'b')
if pv[1] == '1' then
  psc, pts, pun = tonumber(pv[2]), tonumber(pv[3]), tonumber(pv[4])
  pstk, plast, pban = tonumber(pv[5]), tonumber(pv[6]), tonumber(pv[7])
end
`

const penaltyApplySrc = `
local function scoreAt()
  if psc <= 0 or decay == 0 or now <= pts then return math.max(0, psc) end
  return math.max(0, psc - decay * ((now - pts) / 3.6e9))
end
local started = 0
if kind == '1' then
  psc, pts = scoreAt() + math.max(0, sev), now
  if pun <= now and psc >= thr then
    if pstk > 0 and now - plast <= mem then pstk = pstk + 1 else pstk = 1 end
    local d = dur
    if esc > 1 and pstk > 1 then d = d * esc ^ (pstk - 1) end
    d = math.floor(math.min(d, maxd))
    pun, plast, pban, psc, started = now + d, now, 0, 0, 1
  end
elseif kind == '2' then
  local d = banus
  if d <= 0 then d = 3153600000000000 end
  pun, pban, started = now + d, 1, 1
elseif kind == '3' then
  pun, pban, psc, pts = 0, 0, 0, now
end
if kind ~= '0' then
  local e = math.max(pun, plast + mem)
  if decay > 0 and psc > 0 then
    e = math.max(e, pts + math.floor(psc / decay * 3.6e9) + 1)
  elseif psc > 0 then
    e = math.max(e, now + 3153600000000000)
  end
  if e <= now then
    redis.call('DEL', pkey)
  else
    redis.call('HSET', pkey, 'v', '1', 's', string.format('%.17g', psc), 't', string.format('%.0f', pts),
      'u', string.format('%.0f', pun), 'k', string.format('%.0f', pstk), 'l', string.format('%.0f', plast), 'b', pban)
    redis.call('PEXPIREAT', pkey, math.floor(e / 1000) + 1000)
  end
end
local preply = string.format('%.17g %.0f %.0f %.0f %.0f %d %d %.0f', psc, pts, pun, pstk, plast, pban, started, now)
`

// penaltySrc is one penalty operation on KEYS[1]. ARGV: kind, severity,
// ban_us, now_us ('0': Redis TIME), threshold, duration_us, decay,
// escalation, memory_us, max_us. It returns preply (see penaltyReadSrc).
const penaltySrc = `
local now = tonumber(ARGV[4])
if now == 0 then
  local tm = redis.call('TIME')
  now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
end
local pkey = KEYS[1]
local kind = ARGV[1]
local sev, banus = tonumber(ARGV[2]), tonumber(ARGV[3])
local thr, dur, decay = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local esc, mem, maxd = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
` + penaltyReadSrc + penaltyApplySrc + `return preply
`

var penaltyScript = redis.NewScript(penaltySrc)

// Penalty implements halt.PenaltyStore: one Lua script per operation,
// atomic in Redis, by Redis TIME (op.Now with WithCallerClock). The Redis
// key is prefix + key + ":p", a hash in the key's Cluster slot. It waits
// for Redis at most the store's timeout. A read of a client the
// over-limit cache holds banned is answered from the cache; any other
// operation drops the client's cached ban once it is done.
func (s *Store) Penalty(ctx context.Context, key []byte, op *halt.PenaltyOp) (halt.PenaltyState, int64, bool, error) {
	if s.closed.Load() {
		return halt.PenaltyState{}, 0, false, halt.ErrStoreClosed
	}
	var kb [256]byte
	k := s.appendPenaltyKey(kb[:0], key)
	t0 := s.cacheClock(op.Now)
	if s.cache != nil && op.Kind == halt.PenaltyRead {
		if st, at, ok := s.cache.banned(k, t0); ok {
			return st, at, false, nil
		}
	}
	prk := string(k)
	var epoch uint64
	if s.cache != nil {
		if op.Kind == halt.PenaltyRead {
			epoch = s.cache.banEpoch(prk)
		} else {
			// The cached ban is what this operation may change: forget
			// it once the operation is done, whatever the outcome, so
			// that no answer read before then is cached after.
			defer s.cache.dropBan(prk)
		}
	}
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
	str, ok := v.(string)
	if !ok {
		return halt.PenaltyState{}, 0, false, fmt.Errorf("haltredis: penalty script answered %v", v)
	}
	st, at, started, err := parsePenaltyReply(str)
	if err == nil && op.Kind == halt.PenaltyRead && s.cache != nil {
		s.cache.putBan(prk, st, at, t0, epoch)
	}
	return st, at, started, err
}

// parsePenaltyReply parses preply (see penaltyReadSrc).
func parsePenaltyReply(str string) (halt.PenaltyState, int64, bool, error) {
	f := strings.Fields(str)
	if len(f) != 8 {
		return halt.PenaltyState{}, 0, false, fmt.Errorf("haltredis: penalty script answered %q", str)
	}
	score, err := strconv.ParseFloat(f[0], 64)
	errs := []error{err}
	var n [7]int64
	for i := range n {
		n[i], err = strconv.ParseInt(f[i+1], 10, 64)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return halt.PenaltyState{}, 0, false, fmt.Errorf("haltredis: penalty script answered %q: %w", str, err)
	}
	st := halt.PenaltyState{Score: score, Stamp: n[0], Until: n[1], Strike: n[2], Last: n[3], Banned: n[4] == 1}
	return st, n[6], n[5] == 1, nil
}
