package haltredis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
)

var _ halt.QuotaStore = (*Store)(nil)

// quotaSuffix names a quota's Redis key: prefix + key + ":q".
const quotaSuffix = ":q"

// quotaSrc is core's QuotaOp.Apply in Lua, on a hash with fields v (the
// layout version, 1), p (the period counted, Unix seconds), u (used) and x
// (granted); a key of another version or period counts as none. The key
// expires an hour after its period ends.
//
// ARGV: kind ('0' peek, '1' consume, '2' refund, '3' grant, '4' reset),
// limit, amount, now_us ('0': Redis TIME), then the four bounds b0..b3
// (Unix seconds). The period is the one of [b0,b1), [b1,b2), [b2,b3)
// holding now: the app servers send bounds computed around their own clock
// and Redis picks by its own, so servers whose clocks disagree by less
// than a period count in the same one.
//
// It returns {allowed, used, extra, start, end, now_us}.
const quotaSrc = `
local now = tonumber(ARGV[4])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local b1, b2, b3 = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local s, e = tonumber(ARGV[5]), b1
if now >= b2 * 1000000 then s, e = b2, b3 elseif now >= b1 * 1000000 then s, e = b1, b2 end
local kind = ARGV[1]
if kind == '4' then
  redis.call('DEL', KEYS[1])
  return {1, 0, 0, s, e, now}
end
local used, extra = 0, 0
local v = redis.call('HMGET', KEYS[1], 'v', 'p', 'u', 'x')
if v[1] == '1' and tonumber(v[2]) == s then
  used, extra = tonumber(v[3]) or 0, tonumber(v[4]) or 0
end
local limit, amount = tonumber(ARGV[2]), tonumber(ARGV[3])
local ok, write = 1, false
if kind == '0' or kind == '1' then
  if used + amount > limit + extra then
    ok = 0
  elseif kind == '1' then
    used, write = used + amount, true
  end
elseif kind == '2' then
  used, write = math.max(0, used - amount), true
elseif kind == '3' then
  extra, write = extra + amount, true
end
if write then
  redis.call('HSET', KEYS[1], 'v', '1', 'p', s, 'u', used, 'x', extra)
  redis.call('EXPIREAT', KEYS[1], e + 3600)
end
return {ok, used, extra, s, e, now}
`

var quotaScript = redis.NewScript(quotaSrc)

// Quota implements halt.QuotaStore: one Lua script per operation, atomic
// in Redis, so every app server shares one exact quota. The period is
// chosen by Redis TIME among op.Bounds (by op.Now with WithCallerClock).
// The Redis key is prefix + key + ":q", a hash, in the key's Cluster slot.
// It waits for Redis at most the store's timeout.
func (s *Store) Quota(ctx context.Context, key []byte, op *halt.QuotaOp) (halt.QuotaResult, error) {
	if s.closed.Load() {
		return halt.QuotaResult{}, halt.ErrStoreClosed
	}
	rk := s.quotaKey(key)
	if err := s.refuse(rk); err != nil {
		return halt.QuotaResult{}, err
	}
	var now int64
	if s.cfg.callerClock {
		now = op.Now.UnixMicro()
	}
	began := s.clock()
	tctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	v, err := quotaScript.Run(tctx, s.client, []string{rk}, int(op.Kind), op.Limit, op.Amount, now,
		op.Bounds[0], op.Bounds[1], op.Bounds[2], op.Bounds[3]).Result()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (%v): %w", ErrTimeout, s.cfg.timeout, err)
		}
		s.failedOn(ctx, rk, began, err)
		return halt.QuotaResult{}, fmt.Errorf("haltredis: quota %q: %w", key, err)
	}
	s.replied(rk)
	return parseQuota(v)
}

func parseQuota(v any) (halt.QuotaResult, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 6 {
		return halt.QuotaResult{}, fmt.Errorf("haltredis: quota script answered %v", v)
	}
	var n [6]int64
	for i, x := range a {
		switch x := x.(type) {
		case int64:
			n[i] = x
		case string: // a script of another version
			var err error
			if n[i], err = strconv.ParseInt(x, 10, 64); err != nil {
				return halt.QuotaResult{}, fmt.Errorf("haltredis: quota script answered %v", v)
			}
		default:
			return halt.QuotaResult{}, fmt.Errorf("haltredis: quota script answered %v", v)
		}
	}
	return halt.QuotaResult{Allowed: n[0] == 1, Used: n[1], Extra: n[2], Start: n[3], End: n[4], Now: n[5]}, nil
}

// quotaKey is the Redis key of the quota key key.
func (s *Store) quotaKey(key []byte) string {
	return s.cfg.prefix + string(key) + quotaSuffix
}
