package haltredis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
)

var _ halt.PenaltyTaker = (*Store)(nil)

// answerBanned answers pt from the over-limit cache when it holds a ban
// of pt's client (see blockCache.putBan): no round trip for a client that
// may be the one flooding.
func (s *Store) answerBanned(pt *halt.PenalizedTake, local int64) bool {
	var kb [256]byte
	st, at, ok := s.cache.banned(s.appendPenaltyKey(kb[:0], pt.PenaltyKey), local)
	if !ok {
		return false
	}
	pt.Penalty, pt.At = st, at
	pt.Banned, pt.Penalized, pt.Violated, pt.Started = true, false, false, false
	return true
}

// takePenalizedSrc is TakeAllQuotas's script with the client's penalty
// around it (TakePenalized). KEYS are takeAllQuotasSrc's (the nk policies',
// then the nq quotas') and then the penalty's hash; ARGV is
// takeAllQuotasSrc's (now_us, six per policy, six per quota, nq), then six
// per policy again for the policies at the penalty's multiplier, then the
// penalty's severity, threshold, duration_us, decay, escalation,
// memory_us and max_us, then nk.
//
// A prologue of its own reads the clock and the penalty state. A banned
// client is answered at once, with nothing decided or written: {"2 " ..
// preply}. Otherwise it shadows KEYS and ARGV with local tables holding
// takeAllQuotasSrc's own (the policies' arguments replaced by the reduced
// ones while the client is penalized, now_us by the instant it read) and
// runs takeAllQuotasSrc unchanged up to its return. Then, when the
// request was rejected (some policy or quota rejected, no policy for a
// cost above its capacity) and the severity is positive, it records the
// violation with penaltyApplySrc, which may start a penalty. It returns
// takeAllQuotasSrc's answers, then "<mode> " .. preply, with mode 0
// (decided at the policies' own limits) or 1 (penalized).
var takePenalizedSrc, takePenalizedErr = buildTakePenalized(takeAllQuotasSrc)

// tpReturn is where takeAllQuotasSrc returns, which takePenalizedSrc
// rewrites.
const tpReturn = "out[nk + nq + 1] = fmt('%.0f', now)\nreturn out\n"

// tpArgs is how many penalty arguments follow the reduced policies'.
const tpArgs = 7

func buildTakePenalized(src string) (string, error) {
	if takeAllQuotasErr != nil {
		return "", takeAllQuotasErr
	}
	if strings.Count(src, tpReturn) != 1 || !strings.HasSuffix(src, tpReturn) {
		return "", fmt.Errorf("haltredis: TakePenalized: TakeAllQuotas's script no longer ends with %q: review penaltymulti.go", tpReturn)
	}
	prologue := `local PA, PK = ARGV, KEYS
local pnk = tonumber(PA[#PA])
local pL = #PA - 6 * pnk - 8
local pkey = PK[#PK]
local now = tonumber(PA[1])
if now == 0 then
  local tm = redis.call('TIME')
  now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
end
local pa = pL + 6 * pnk
local sev, banus = tonumber(PA[pa + 1]), 0
local thr, dur, decay = tonumber(PA[pa + 2]), tonumber(PA[pa + 3]), tonumber(PA[pa + 4])
local esc, mem, maxd = tonumber(PA[pa + 5]), tonumber(PA[pa + 6]), tonumber(PA[pa + 7])
` + penaltyReadSrc + `
if pun > now and pban == 1 then
  local kind = '0'
` + penaltyApplySrc + `  return {'2 ' .. preply}
end
local penalized = pun > now
local ARGV, KEYS = {}, {}
for i = 1, pL do ARGV[i] = PA[i] end
ARGV[1] = now
if penalized then
  for i = 1, 6 * pnk do ARGV[1 + i] = PA[pL + i] end
end
for i = 1, #PK - 1 do KEYS[i] = PK[i] end
`
	epilogue := `out[nk + nq + 1] = fmt('%.0f', now)
local kind = '0'
if sev > 0 and not all then
  kind = '1'
  for i = 1, nk do
    if string.sub(out[i], 1, 4) == '0 3 ' then kind = '0' end
  end
end
` + penaltyApplySrc + `local mode = 0
if penalized then mode = 1 end
out[nk + nq + 2] = mode .. ' ' .. preply
return out
`
	return prologue + strings.TrimSuffix(src, tpReturn) + epilogue, nil
}

var takePenalizedScript = redis.NewScript(takePenalizedSrc)

// TakePenalized implements halt.PenaltyTaker: TakeAllQuotas with the
// client's penalty inside the same script, one EVALSHA, one round trip:
// it reads the penalty state, answers a banned client without deciding
// anything, decides the reduced policies while the client is penalized,
// and records a rejection's violation, which may start a penalty. Every
// key (the policies', the quotas', the penalty's) must share one hash tag
// (one Cluster slot), and at most MaxTakeAll policies and MaxTakeAll
// quotas are decided at once; a reduced policy must keep its policy's
// algorithm and window (the same Redis key). The clock is Take's (Redis
// TIME, or pt.Now with WithCallerClock). It waits at most the store's
// timeout, without pipelining. A client the over-limit cache holds banned
// (see WithOverLimitCache) is answered from the cache, without a round
// trip and without checking the keys' hash tags; otherwise the policies'
// entries are left to Take (the admitted keys are dropped from it).
func (s *Store) TakePenalized(ctx context.Context, pt *halt.PenalizedTake) error {
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	if err := pt.Check(); err != nil {
		return err
	}
	n, nq := len(pt.Keys), len(pt.QuotaKeys)
	switch {
	case takePenalizedErr != nil:
		return takePenalizedErr
	case n > MaxTakeAll || nq > MaxTakeAll:
		return fmt.Errorf("haltredis: TakePenalized: %d policies and %d quotas; one script decides at most %d of each", n, nq, MaxTakeAll)
	}
	t0 := s.cacheClock(pt.Now)
	if s.cache != nil && s.answerBanned(pt, t0) {
		return nil
	}
	rks, args, err := s.takeAllQuotasArgs(pt.Keys, pt.Policies, pt.Now, pt.Cost, pt.QuotaKeys, pt.QuotaOps, 1+6*n+tpArgs+1)
	if err != nil {
		return err
	}
	for i, p := range pt.Reduced {
		pa := s.policyArgs(p)
		if pa.err != nil {
			return pa.err
		}
		if rk := string(s.appendKey(nil, pt.Keys[i], pa)); rk != rks[i] {
			return fmt.Errorf("haltredis: TakePenalized: reduced policy %q keys %q, not %q: it must keep the algorithm and window", p.Name, rk, rks[i])
		}
		args = appendPolicyArgs(args, p, pa, pt.Cost)
	}
	c := pt.Config
	mem := c.Memory
	if mem == 0 {
		mem = 24 * time.Hour
	}
	args = append(args, strconv.FormatFloat(pt.Severity, 'g', -1, 64), strconv.FormatFloat(c.Threshold, 'g', -1, 64),
		c.Duration.Microseconds(), strconv.FormatFloat(c.DecayRate, 'g', -1, 64), strconv.FormatFloat(c.Escalation, 'g', -1, 64),
		mem.Microseconds(), c.PenaltyDuration(1<<20).Microseconds(), n)
	var kb [256]byte
	prk := string(s.appendPenaltyKey(kb[:0], pt.PenaltyKey))
	if len(rks) > 0 && hashTag(prk) != hashTag(rks[0]) {
		return fmt.Errorf("haltredis: TakePenalized: keys %q and %q do not share a hash tag: one script decides "+
			"them, which needs them in one Redis Cluster slot", rks[0], prk)
	}
	rks = append(rks, prk)
	if err := s.refuse(prk); err != nil {
		return err
	}
	var epoch uint64
	if s.cache != nil {
		epoch = s.cache.banEpoch(prk)
	}
	a, err := s.runMulti(ctx, takePenalizedScript, "take_penalized", rks, args, 0)
	if err != nil {
		return err
	}
	bad := func() error { return fmt.Errorf("haltredis: TakePenalized: script answered %v", a) }
	if len(a) == 0 {
		return bad()
	}
	last, _ := a[len(a)-1].(string)
	mode, preply, ok := strings.Cut(last, " ")
	if !ok {
		return bad()
	}
	st, at, started, err := parsePenaltyReply(preply)
	if err != nil {
		return err
	}
	pt.Penalty, pt.At, pt.Started = st, at, started
	pt.Banned, pt.Penalized, pt.Violated = mode == "2", mode == "1", false
	if pt.Banned {
		if len(a) != 1 {
			return bad()
		}
		if s.cache != nil {
			s.cache.putBan(prk, st, at, t0, epoch)
		}
		return nil
	}
	if len(a) != n+nq+2 || (mode != "0" && mode != "1") {
		return bad()
	}
	ps := pt.Policies
	if pt.Penalized {
		ps = pt.Reduced
	}
	admitted, err := parseQuotaMulti(a[:n+nq+1], ps, pt.Out, pt.QuotaOut)
	if err != nil {
		return err
	}
	pt.Violated = pt.Violation()
	if admitted && s.cache != nil {
		for _, rk := range rks[:n] {
			s.cache.drop(rk)
		}
	}
	return nil
}
