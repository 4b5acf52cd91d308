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

var _ halt.QuotaMultiTaker = (*Store)(nil)

// takeAllQuotasSrc is TakeAll's script with quotas: KEYS are the policies'
// nk keys, then the nq quotas' keys; ARGV is TakeAll's (now_us, six per
// policy), then six per quota (limit, amount, b0, b1, b2, b3: quotaSrc's),
// then nq. It is takeAllSrc rewritten in three places, so the algorithms
// still exist once:
//
//   - it reads the policies' values from the first nk keys only;
//   - after the policies are decided and before anything is written, it
//     reads each quota (quotaSrc's hash, the period holding now among its
//     bounds) and checks the amount fits; a quota without room turns the
//     admission into a rejection, so the policies write only what their
//     own rejections would and answer as Peek;
//   - when everything admitted, it adds each amount to its quota.
//
// It returns the policies' answers (TakeAll's strings), then one string
// per quota, "allowed used extra start end", then now_us.
var takeAllQuotasSrc, takeAllQuotasErr = buildTakeAllQuotas(takeAllSrc)

// The three places of takeAllSrc that takeAllQuotasSrc rewrites.
const (
	taqRead   = "local nk = #KEYS\nlocal vals = redis.call('MGET', unpack(KEYS))\n"
	taqWrites = "for i = 1, nk do\n  if all or"
	taqReturn = "\nreturn out\n"
)

func buildTakeAllQuotas(src string) (string, error) {
	for _, s := range []string{taqRead, taqWrites, taqReturn} {
		if strings.Count(src, s) != 1 {
			return "", fmt.Errorf("haltredis: TakeAllQuotas: TakeAll's script no longer has %q once: review quotamulti.go", s)
		}
	}
	src = strings.Replace(src, taqRead, `local nq = tonumber(ARGV[#ARGV])
local nk = #KEYS - nq
local vals = {}
if nk > 0 then vals = redis.call('MGET', unpack(KEYS, 1, nk)) end
`, 1)
	src = strings.Replace(src, taqWrites, `local qs, qok = {}, true
for j = 1, nq do
  local o = 1 + 6 * nk + 6 * (j - 1)
  local b1, b2, b3 = tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5]), tonumber(ARGV[o + 6])
  local s, e = tonumber(ARGV[o + 3]), b1
  if now >= b2 * 1000000 then s, e = b2, b3 elseif now >= b1 * 1000000 then s, e = b1, b2 end
  local used, extra = 0, 0
  local v = redis.call('HMGET', KEYS[nk + j], 'v', 'p', 'u', 'x')
  if v[1] == '1' and tonumber(v[2]) == s then
    used, extra = tonumber(v[3]) or 0, tonumber(v[4]) or 0
  end
  local amount = tonumber(ARGV[o + 2])
  local fits = used + amount <= tonumber(ARGV[o + 1]) + extra
  qs[j] = {fits, used, extra, s, e, amount}
  if not fits then qok = false end
end
if not qok then all = false end
`+taqWrites, 1)
	src = strings.Replace(src, taqReturn, `
for j = 1, nq do
  local q = qs[j]
  local used, ok = q[2], 0
  if q[1] then ok = 1 end
  if all then
    used = used + q[6]
    redis.call('HSET', KEYS[nk + j], 'v', '1', 'p', q[4], 'u', used, 'x', q[3])
    redis.call('EXPIREAT', KEYS[nk + j], q[5] + 3600)
  end
  out[nk + j] = fmt('%d %.0f %.0f %.0f %.0f', ok, used, q[3], q[4], q[5])
end
out[nk + nq + 1] = fmt('%.0f', now)
return out
`, 1)
	return src, nil
}

var takeAllQuotasScript = redis.NewScript(takeAllQuotasSrc)

// TakeAllQuotas implements halt.QuotaMultiTaker: the policies and the
// quotas of one client in one script, atomically, one round trip: TakeAll
// with the quotas checked before anything is written and consumed only
// when everything admitted. The keys must share one hash tag (one Cluster
// slot), and at most MaxTakeAll policies and MaxTakeAll quotas are decided
// at once. The clock is Take's (Redis TIME, or now with WithCallerClock),
// and it picks each quota's period among its op's bounds; the ops must be
// QuotaConsume. It waits at most the store's timeout, without pipelining,
// and does not consult the over-limit cache (it drops the admitted keys
// from it).
func (s *Store) TakeAllQuotas(ctx context.Context, keys [][]byte, ps []*halt.Policy, now time.Time, cost int64,
	out []halt.Result, qkeys [][]byte, qops []halt.QuotaOp, qout []halt.QuotaResult) error {
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	n, nq := len(keys), len(qkeys)
	switch {
	case takeAllQuotasErr != nil:
		return takeAllQuotasErr
	case len(ps) != n || len(out) < n || len(qops) != nq || len(qout) < nq:
		return fmt.Errorf("haltredis: TakeAllQuotas: %d keys, %d policies, room for %d; %d quota keys, %d ops, room for %d",
			n, len(ps), len(out), nq, len(qops), len(qout))
	case n > MaxTakeAll || nq > MaxTakeAll:
		return fmt.Errorf("haltredis: TakeAllQuotas: %d policies and %d quotas; one script decides at most %d of each", n, nq, MaxTakeAll)
	}
	rks, args, err := s.takeAllQuotasArgs(keys, ps, now, cost, qkeys, qops, 0)
	if err != nil || len(rks) == 0 {
		return err
	}
	if err := s.refuse(rks[0]); err != nil {
		return err
	}
	a, err := s.runMulti(ctx, takeAllQuotasScript, "take_all_quotas", rks, args, n+nq+1)
	if err != nil {
		return err
	}
	admitted, err := parseQuotaMulti(a, ps, out, qout)
	if err != nil {
		return err
	}
	if admitted && s.cache != nil {
		for _, rk := range rks[:n] {
			s.cache.drop(rk)
		}
	}
	return nil
}

// takeAllQuotasArgs returns the Redis keys and the ARGV of takeAllQuotasSrc
// for policies ps at keys and quota ops qops at qkeys, with room for extra
// more of each; the keys must share one hash tag.
func (s *Store) takeAllQuotasArgs(keys [][]byte, ps []*halt.Policy, now time.Time, cost int64, qkeys [][]byte,
	qops []halt.QuotaOp, extra int) ([]string, []any, error) {
	n, nq := len(keys), len(qkeys)
	rks := make([]string, 0, n+nq+extra)
	args := make([]any, 0, 2+6*(n+nq)+extra)
	var at int64
	if s.cfg.callerClock {
		at = now.UnixMicro()
	}
	args = append(args, at)
	for i, p := range ps {
		pa := s.policyArgs(p)
		if pa.err != nil {
			return nil, nil, pa.err
		}
		rks = append(rks, string(s.appendKey(nil, keys[i], pa)))
		args = appendPolicyArgs(args, p, pa, cost)
	}
	for i, op := range qops {
		if op.Kind != halt.QuotaConsume {
			return nil, nil, fmt.Errorf("haltredis: TakeAllQuotas: quota op %d is not a consume", i)
		}
		rks = append(rks, s.quotaKey(qkeys[i]))
		args = append(args, op.Limit, op.Amount, op.Bounds[0], op.Bounds[1], op.Bounds[2], op.Bounds[3])
	}
	args = append(args, nq)
	for _, rk := range rks {
		if hashTag(rk) != hashTag(rks[0]) {
			return nil, nil, fmt.Errorf("haltredis: TakeAllQuotas: keys %q and %q do not share a hash tag: one script decides "+
				"them, which needs them in one Redis Cluster slot", rks[0], rk)
		}
	}
	return rks, args, nil
}

// appendPolicyArgs appends a policy's six arguments in TakeAll's layout:
// the cost (0: the policy's own), then its own, padded.
func appendPolicyArgs(args []any, p *halt.Policy, pa *policyArgs, cost int64) []any {
	if cost <= 0 {
		cost = p.RequestCost()
	}
	args = append(append(args, cost), pa.args[:pa.nargs]...)
	for range takeAllArgs - 1 - pa.nargs {
		args = append(args, "0")
	}
	return args
}

// runMulti runs script on rks with args, within the store's timeout and
// without pipelining, and returns its array reply, which must have want
// elements (0: any number).
func (s *Store) runMulti(ctx context.Context, script *redis.Script, what string, rks []string, args []any, want int) ([]any, error) {
	began := s.clock()
	tctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	v, err := script.Run(tctx, s.client, rks, args...).Result()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (%v): %w", ErrTimeout, s.cfg.timeout, err)
		}
		s.failedOn(ctx, rks[0], began, err)
		return nil, fmt.Errorf("haltredis: %s %q: %w", what, rks[0], err)
	}
	s.replied(rks[0])
	a, ok := v.([]any)
	if !ok || (want > 0 && len(a) != want) {
		return nil, fmt.Errorf("haltredis: %s: script answered %v", what, v)
	}
	return a, nil
}

// parseQuotaMulti parses takeAllQuotasSrc's reply a into out (the
// policies ps) and qout, and reports whether everything admitted.
func parseQuotaMulti(a []any, ps []*halt.Policy, out []halt.Result, qout []halt.QuotaResult) (bool, error) {
	n := len(ps)
	nq := len(a) - n - 1
	bad := func() (bool, error) { return false, fmt.Errorf("haltredis: TakeAllQuotas: script answered %v", a) }
	if nq < 0 || len(qout) < nq {
		return bad()
	}
	nowUs, err := strconv.ParseInt(fmt.Sprint(a[n+nq]), 10, 64)
	if err != nil {
		return bad()
	}
	admitted := true
	for i := range n {
		var rp reply
		if out[i], err = parseReply(a[i], ps[i].Algorithm, &rp); err != nil {
			return false, err
		}
		admitted = admitted && out[i].Allowed
	}
	for j := range nq {
		str, _ := a[n+j].(string)
		var f [5]int64
		fs := strings.Fields(str)
		if len(fs) != 5 {
			return bad()
		}
		for k := range f {
			if f[k], err = strconv.ParseInt(fs[k], 10, 64); err != nil {
				return bad()
			}
		}
		qout[j] = halt.QuotaResult{Allowed: f[0] == 1, Used: f[1], Extra: f[2], Start: f[3], End: f[4], Now: nowUs}
		admitted = admitted && qout[j].Allowed
	}
	return admitted, nil
}
