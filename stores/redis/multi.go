package haltredis

import (
	"context"
	"fmt"
	"strings"
	"time"

	halt "github.com/halt-go/halt/core"
)

// TakeAll implements halt.MultiTaker: it decides keys[i] under ps[i], for
// every i, in one script run atomically in Redis (one EVALSHA, one round
// trip, with Take's timeout, pipelining, NOSCRIPT handling and fast
// failures while Redis is down). The request is admitted only if every
// policy admits it, and only then recorded under each, as Take would
// record it. When one rejects, nothing is charged: the rejecting policies
// write what their rejection writes under Take (a cooldown it starts, a
// sliding window that moved on), the others nothing. out[i] receives
// Take's answer for every key of an admission; for a rejection, Take's
// answer for the rejecting keys and Peek's for the others. A cost of 0
// means each policy's own cost. The clock is Take's: Redis TIME, or now
// with WithCallerClock, one instant for every key.
//
// TakeAll decides at most MaxTakeAll keys, and they must share one hash
// tag (the text between the first '{' and the '}' after it, or the whole
// key without one), so that a Redis Cluster holds them in one slot: keys
// that do not are an error before any round trip, whatever the client, so
// what works against one server works against a Cluster. The limiter only
// passes the keys of one client ("halt:<policy>:{<client>}"), which always
// share their tag. A single key is decided by Take itself.
//
// The over-limit cache never answers a TakeAll of several keys (the
// policies that would admit need their standing from Redis), but TakeAll
// keeps it up to date for Take: the keys of an admission, and those that
// would have admitted, are dropped from it; the rejecting keys are cached
// as Take caches them.
func (s *Store) TakeAll(ctx context.Context, keys [][]byte, ps []*halt.Policy, now time.Time, cost int64, out []halt.Result) error {
	if s.closed.Load() {
		return halt.ErrStoreClosed
	}
	n := len(keys)
	switch {
	case len(ps) != n || len(out) < n:
		return fmt.Errorf("haltredis: TakeAll: %d keys, %d policies and room for %d results", n, len(ps), len(out))
	case n > MaxTakeAll:
		return fmt.Errorf("haltredis: TakeAll: %d keys; one script decides at most %d", n, MaxTakeAll)
	case n == 0:
		return nil
	case n == 1:
		r, err := s.Take(ctx, keys[0], ps[0], now, cost)
		out[0] = r
		return err
	}

	var pas [MaxTakeAll]*policyArgs
	var costs [MaxTakeAll]int64
	var ends [MaxTakeAll]int
	bp := s.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	for i, p := range ps {
		pa := s.policyArgs(p)
		if pa.err != nil {
			s.bufs.Put(bp)
			return pa.err
		}
		pas[i], costs[i] = pa, cost
		if cost <= 0 {
			costs[i] = p.RequestCost()
		}
		b = s.appendKey(b, keys[i], pa)
		ends[i] = len(b)
	}
	// One string holds every Redis key.
	joined := string(b)
	*bp = b
	s.bufs.Put(bp)
	var rks [MaxTakeAll]string
	for i, start := 0, 0; i < n; i++ {
		rks[i], start = joined[start:ends[i]], ends[i]
	}
	tag := hashTag(rks[0])
	for i := 1; i < n; i++ {
		if hashTag(rks[i]) != tag {
			return fmt.Errorf("haltredis: TakeAll: keys %q and %q do not share a hash tag: one script decides "+
				"them, which needs them in one Redis Cluster slot (the limiter's keys of one client share "+
				"their {client} tag)", keys[0], keys[i])
		}
	}
	if err := s.refuse(rks[0]); err != nil {
		return err
	}
	var t0 int64 // the cache clock, as Take's
	if s.cfg.callerClock {
		t0 = now.UnixMicro() * 1000
	} else {
		t0 = int64(time.Since(s.start))
	}

	c := s.newMultiCall(rks[:n], pas[:n], ps, now, costs[:n])
	began := s.clock()
	err := s.exec(ctx, c)
	if err == nil {
		if err = c.err; err == nil {
			copy(out, c.mres)
			if s.cache != nil {
				for i := range n {
					switch r := &out[i]; {
					case r.Allowed:
						s.cache.drop(rks[i])
					case r.Reason != halt.ReasonCostExceedsCapacity:
						s.cache.put(strings.Clone(rks[i]), pas[i], costs[i], t0, *r, &c.mrp[i])
					}
				}
			}
		}
		s.recycle(c)
	}
	if err != nil {
		return s.failed(ctx, opTakeAll, keys[0], rks[0], began, err)
	}
	return nil
}

// newMultiCall returns a pooled call of TakeAll's script on Redis keys rks
// (see takeAllSrc for its ARGV).
func (s *Store) newMultiCall(rks []string, pas []*policyArgs, ps []*halt.Policy, now time.Time, costs []int64) *call {
	c := s.calls.Get().(*call)
	c.op = opTakeAll
	c.err = nil
	c.nargs = 0
	c.mkeys = append(c.mkeys[:0], rks...)
	var at any = 0
	if s.cfg.callerClock {
		at = now.UnixMicro()
	}
	c.margs = append(c.margs[:0], at)
	c.malg = c.malg[:0]
	for i, pa := range pas {
		c.margs = append(c.margs, costs[i])
		c.margs = append(c.margs, pa.args[:pa.nargs]...)
		for range takeAllArgs - 1 - pa.nargs {
			c.margs = append(c.margs, "0") // the sub-windows of a sliding window only
		}
		c.malg = append(c.malg, ps[i].Algorithm)
	}
	if cap(c.mres) < len(rks) {
		c.mres, c.mrp = make([]halt.Result, MaxTakeAll), make([]reply, MaxTakeAll)
	}
	c.mres, c.mrp = c.mres[:len(rks)], c.mrp[:len(rks)]
	return c
}

// hashTag is what Redis Cluster hashes of key: the text between the first
// '{' and the first '}' after it, if not empty, and otherwise the whole
// key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}
