package haltredis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
)

// ErrTimeout is returned (wrapped) when Redis did not answer within the
// store's timeout (see WithTimeout).
var ErrTimeout = errors.New("haltredis: redis did not answer in time")

// ErrDown is returned (wrapped, with the last failure) while the store
// considers Redis unreachable and has no memory fallback: it fails fast,
// without a round trip, until a probe finds Redis back.
var ErrDown = errors.New("haltredis: redis is unreachable")

// Store is a halt.Store on Redis: single node, Sentinel or Cluster, through
// any redis.UniversalClient. Every decision is one Lua script run atomically
// in Redis, so any number of app instances share one exact limit. It is safe
// for concurrent use. Create it with New and Close it when done (Close does
// not close the client).
//
// By default the script reads the clock from Redis TIME and ignores the now
// passed to Take, so app servers whose clocks disagree still share one
// limit; WithCallerClock uses now instead.
type Store struct {
	client redis.UniversalClient
	cfg    config
	start  time.Time // base of the monotonic cache clock
	cache  *blockCache
	mem    *memory.Store

	policies sync.Map // *halt.Policy -> *policyArgs
	npol     atomic.Int64

	queue   chan *call
	inline  bool         // the client honours context deadlines: see runInline
	busy    atomic.Int32 // round trips in flight
	waiting atomic.Int32 // Takes waiting for Redis
	calls   sync.Pool
	bufs    sync.Pool

	down     atomic.Bool
	mu       sync.Mutex // guards lastErr and the prober's start
	lastErr  error
	probing  bool
	stop     chan struct{}
	wg       sync.WaitGroup
	closed   atomic.Bool
	closeOne sync.Once
}

var _ halt.Store = (*Store)(nil)

// New returns a Store deciding through client. It validates the options and
// returns the first error; it never panics. It does not contact Redis: the
// first decisions load the script.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("haltredis: client must not be nil")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Store{
		client: client,
		cfg:    cfg,
		start:  time.Now(),
		queue:  make(chan *call, 4096),
		stop:   make(chan struct{}),
	}
	switch c := client.(type) {
	case *redis.Client:
		s.inline = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		s.inline = c.Options().ContextTimeoutEnabled
	}
	if cfg.cacheSize > 0 {
		s.cache = newBlockCache(cfg.cacheSize)
	}
	if cfg.fallback {
		s.mem = memory.New(cfg.memCfg)
	}
	s.calls.New = func() any { return &call{done: make(chan struct{}, 1)} }
	s.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	for range cfg.workers {
		s.wg.Add(1)
		go s.worker()
	}
	return s, nil
}

// call is one decision on its way through a pipeline.
type call struct {
	keys   [1]string
	args   [7]any
	nargs  int
	state  atomic.Int32 // callQueued, callTaken, callAbandoned, callDone
	alg    halt.Algorithm
	window time.Duration
	res    halt.Result
	rp     reply
	err    error
	done   chan struct{}
	timer  *time.Timer
}

const (
	callQueued    int32 = iota // waiting for a worker
	callTaken                  // in a worker's pipeline
	callAbandoned              // its caller gave up; the worker drops it
	callDone                   // answered; done has a value
)

// Take implements halt.Store: it runs one decision for key in Redis. With
// the default server clock, now is used only for the memory fallback.
// Instants and the policy's durations are whole microseconds in Redis: a
// policy whose Window, BlockDuration or sliding sub-window is not a whole
// number of microseconds is an error.
func (s *Store) Take(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	if s.closed.Load() {
		return halt.Result{}, halt.ErrStoreClosed
	}
	if cost <= 0 {
		cost = p.RequestCost()
	}
	pa := s.policyArgs(p)
	if pa.err != nil {
		return halt.Result{}, pa.err
	}
	var t0 int64 // the cache clock
	if s.cfg.callerClock {
		t0 = now.UnixMicro() * 1000
	} else {
		t0 = int64(time.Since(s.start))
	}

	bp := s.bufs.Get().(*[]byte)
	rk := append(append(append(append((*bp)[:0], s.cfg.prefix...), '{'), key...), '}')
	rk = append(rk, pa.suffix...)
	*bp = rk
	if s.cache != nil {
		if r, ok := s.cache.get(rk, p, pa, cost, t0); ok {
			s.bufs.Put(bp)
			return r, nil
		}
	}
	if s.down.Load() {
		s.bufs.Put(bp)
		return s.fallback(ctx, key, p, now, cost, nil)
	}
	rks := string(rk)
	s.bufs.Put(bp)

	c := s.calls.Get().(*call)
	c.keys[0] = rks
	if s.cfg.callerClock {
		c.args[0] = now.UnixMicro()
	} else {
		c.args[0] = 0
	}
	c.args[1] = cost
	c.alg, c.window = p.Algorithm, p.Window
	c.nargs = 2 + copy(c.args[2:], pa.args[:pa.nargs])
	c.err = nil
	// Alone: decide on this goroutine. With company: share a pipeline.
	alone := s.waiting.Add(1) == 1
	defer s.waiting.Add(-1)
	if s.inline && alone && s.busy.Load() == 0 && s.busy.CompareAndSwap(0, 1) {
		return s.runInline(ctx, c, key, p, now, cost, pa, t0)
	}
	c.state.Store(callQueued)
	if c.timer == nil {
		c.timer = time.NewTimer(s.cfg.timeout)
	} else {
		c.timer.Reset(s.cfg.timeout)
	}

	select {
	case s.queue <- c:
	default: // the queue is full: Redis is far behind
		c.timer.Stop()
		c.keys[0] = ""
		s.calls.Put(c)
		return s.fallback(ctx, key, p, now, cost, fmt.Errorf("%w: request queue full", ErrTimeout))
	}

	var err error
	select {
	case <-c.done:
		return s.finish(ctx, c, key, p, now, cost, pa, t0)
	case <-c.timer.C:
		err = fmt.Errorf("%w (%v)", ErrTimeout, s.cfg.timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if !c.state.CompareAndSwap(callQueued, callAbandoned) && !c.state.CompareAndSwap(callTaken, callAbandoned) {
		// The answer arrived meanwhile: use it.
		<-c.done
		return s.finish(ctx, c, key, p, now, cost, pa, t0)
	}
	// Abandoned: the worker drops c (it is not reused).
	return s.failed(ctx, key, p, now, cost, err)
}

// runInline decides c on the caller's goroutine, with no hand-off: when
// nothing else is in flight and the client bounds its I/O by the context's
// deadline (ContextTimeoutEnabled), so the timeout still holds.
func (s *Store) runInline(ctx context.Context, c *call, key []byte, p *halt.Policy, now time.Time, cost int64, pa *policyArgs, t0 int64) (halt.Result, error) {
	tctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	cmd := decideScript.EvalSha(tctx, s.client, c.keys[:], c.args[:c.nargs]...)
	if isNoScript(cmd.Err()) { // EVAL also caches the script again
		cmd = decideScript.Eval(tctx, s.client, c.keys[:], c.args[:c.nargs]...)
	}
	s.busy.Add(-1)
	if err := cmd.Err(); err != nil {
		c.err = err
		if tctx.Err() != nil && ctx.Err() == nil {
			c.err = fmt.Errorf("%w (%v): %w", ErrTimeout, s.cfg.timeout, err)
		}
	} else {
		c.res, c.err = parseReply(cmd.Val(), c.alg, &c.rp)
		if c.res.Reason == halt.ReasonCostExceedsCapacity {
			c.res.RetryAfter = c.window
		}
	}
	cancel()
	return s.finish(ctx, c, key, p, now, cost, pa, t0)
}

// finish reads a delivered call and recycles it.
func (s *Store) finish(ctx context.Context, c *call, key []byte, p *halt.Policy, now time.Time, cost int64, pa *policyArgs, t0 int64) (halt.Result, error) {
	if c.timer != nil {
		c.timer.Stop()
	}
	r, rp, err, rk := c.res, c.rp, c.err, c.keys[0]
	c.keys[0] = ""
	s.calls.Put(c)
	if err != nil {
		return s.failed(ctx, key, p, now, cost, err)
	}
	if s.cache != nil {
		switch {
		case r.Allowed:
			s.cache.drop(rk)
		case r.Reason != halt.ReasonCostExceedsCapacity:
			s.cache.put(rk, pa, cost, t0, r, &rp)
		}
	}
	return r, nil
}

// failed handles an error: the caller's own, an error reply from Redis, or
// Redis being unreachable (which switches to the failure mode).
func (s *Store) failed(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64, err error) (halt.Result, error) {
	if isCallerErr(ctx, err) || !isDownErr(err) {
		return halt.Result{}, fmt.Errorf("haltredis: take %q: %w", key, err)
	}
	s.markDown(err)
	return s.fallback(ctx, key, p, now, cost, err)
}

// isDownErr reports whether err means Redis cannot decide now (network,
// timeout, a node loading or failing over), rather than an error reply
// about this request.
func isDownErr(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return true
	}
	for _, prefix := range []string{"LOADING", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "TRYAGAIN", "BUSY", "NOSCRIPT"} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// isCallerErr reports errors that say nothing about Redis: the caller gave
// up.
func isCallerErr(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// fallback answers while Redis is unreachable: from memory, or with an
// error for the limiter's failure mode.
func (s *Store) fallback(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64, err error) (halt.Result, error) {
	if s.mem != nil {
		return s.mem.Take(ctx, key, p, now, cost)
	}
	if err == nil {
		s.mu.Lock()
		err = s.lastErr
		s.mu.Unlock()
		return halt.Result{}, fmt.Errorf("%w: %w", ErrDown, err)
	}
	return halt.Result{}, fmt.Errorf("haltredis: take %q: %w", key, err)
}

// policyArgs returns p's script arguments, prepared once per policy.
func (s *Store) policyArgs(p *halt.Policy) *policyArgs {
	if v, ok := s.policies.Load(p); ok {
		if pa := v.(*policyArgs); pa.matches(p) {
			return pa
		}
	}
	pa := newPolicyArgs(p)
	if s.npol.Add(1) > 4096 { // policies are few; bound the map anyway
		s.policies.Clear()
		s.npol.Store(1)
	}
	s.policies.Store(p, pa)
	return pa
}

// worker sends the queued decisions in pipelines, one EVALSHA each.
func (s *Store) worker() {
	defer s.wg.Done()
	pipe := s.client.Pipeline()
	batch := make([]*call, 0, s.cfg.maxBatch)
	cmds := make([]*redis.Cmd, 0, s.cfg.maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-s.stop:
			return
		case c := <-s.queue:
			if c.state.CompareAndSwap(callQueued, callTaken) {
				batch = append(batch, c)
			}
		}
	fill:
		for len(batch) < s.cfg.maxBatch {
			select {
			case c := <-s.queue:
				if c.state.CompareAndSwap(callQueued, callTaken) {
					batch = append(batch, c)
				}
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			continue
		}
		s.busy.Add(1)
		cmds = s.run(pipe, batch, cmds[:0])
		s.busy.Add(-1)
	}
}

// run executes one batch and delivers the answers.
func (s *Store) run(pipe redis.Pipeliner, batch []*call, cmds []*redis.Cmd) []*redis.Cmd {
	// The callers bound their own waits; the deadline keeps a batch whose
	// callers have gone from running late (it bounds dialing and waiting
	// for a connection, and the network I/O when the client has
	// ContextTimeoutEnabled).
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	for _, c := range batch {
		cmds = append(cmds, decideScript.EvalSha(ctx, pipe, c.keys[:], c.args[:c.nargs]...))
	}
	_, _ = pipe.Exec(ctx)

	// The script cache is empty after a restart or failover: load the
	// script (on every node of a cluster) and send those decisions again.
	// NOSCRIPT means the script did not run, so nothing is counted twice.
	var retry []int
	for i, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		if err := decideScript.Load(ctx, s.client).Err(); err == nil {
			for _, i := range retry {
				cmds[i] = decideScript.EvalSha(ctx, pipe, batch[i].keys[:], batch[i].args[:batch[i].nargs]...)
			}
		} else {
			for _, i := range retry {
				cmds[i] = decideScript.Eval(ctx, pipe, batch[i].keys[:], batch[i].args[:batch[i].nargs]...)
			}
		}
		_, _ = pipe.Exec(ctx)
	}

	for i, c := range batch {
		cmd := cmds[i]
		cmds[i] = nil
		if err := cmd.Err(); err != nil {
			c.err = err
		} else {
			c.res, c.err = parseReply(cmd.Val(), c.alg, &c.rp)
			if c.res.Reason == halt.ReasonCostExceedsCapacity {
				c.res.RetryAfter = c.window
			}
		}
		if !c.state.CompareAndSwap(callTaken, callDone) {
			continue // abandoned: its caller has gone
		}
		c.done <- struct{}{}
	}
	return cmds[:0]
}

func isNoScript(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT")
}

// reply is the script's answer beyond the Result.
type reply struct {
	valid    time.Duration // how long a blocked answer holds
	at       int64         // the script's clock, ns (blocked answers only)
	st       halt.State    // the key's state (blocked token bucket and fixed window answers)
	hasState bool
}

// parseReply reads the script's answer, a string of space-separated
// fields (see decideSrc).
func parseReply(v any, alg halt.Algorithm, rp *reply) (halt.Result, error) {
	str, ok := v.(string)
	if !ok {
		return halt.Result{}, fmt.Errorf("haltredis: unexpected script reply %v", v)
	}
	var f [10]string
	n := 0
	for rest := str; rest != "" && n < len(f); n++ {
		f[n], rest, _ = strings.Cut(rest, " ")
	}
	if n != 6 && n != 7 && n != 10 {
		return halt.Result{}, fmt.Errorf("haltredis: unexpected script reply %q", str)
	}
	var d [10]int64
	for i := range n {
		if i == 8 {
			continue // the level, a float
		}
		x, err := strconv.ParseInt(f[i], 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			err = nil // beyond time.Duration: x is its maximum, as core caps it
		}
		if err != nil {
			return halt.Result{}, fmt.Errorf("haltredis: unexpected script reply %q", str)
		}
		d[i] = x
	}
	r := halt.Result{
		Allowed:    d[0] == 1,
		Remaining:  d[2],
		RetryAfter: time.Duration(d[3]),
		ResetAfter: time.Duration(d[4]),
	}
	switch d[1] {
	case 0:
		r.Reason = halt.ReasonAllowed
	case 1:
		r.Reason = halt.ReasonLimited
	case 2:
		r.Reason = halt.ReasonCooldown
	case 3:
		r.Reason = halt.ReasonCostExceedsCapacity
	default:
		return halt.Result{}, fmt.Errorf("haltredis: unexpected script reply %q", str)
	}
	*rp = reply{valid: time.Duration(d[5])}
	if n >= 7 {
		rp.at = d[6] * 1000
	}
	if n == 10 {
		level, err := strconv.ParseFloat(f[8], 64)
		if err != nil {
			return halt.Result{}, fmt.Errorf("haltredis: unexpected script reply %q", str)
		}
		rp.hasState = true
		rp.st = halt.State{Stamp: d[7], Level: level, Until: d[9] * 1000}
		if alg == halt.TokenBucket {
			rp.st.Stamp *= 1000 // an instant (µs); the fixed window's is a window index
		}
	}
	return r, nil
}

// markDown switches to the failure mode after a failure, reports it once,
// and starts probing for Redis's return.
func (s *Store) markDown(err error) {
	s.mu.Lock()
	s.lastErr = err
	if s.down.Load() || s.closed.Load() {
		s.mu.Unlock()
		return
	}
	s.down.Store(true)
	start := !s.probing
	s.probing = true
	s.mu.Unlock()

	mode := "returning errors (the limiter's failure mode decides)"
	if s.mem != nil {
		mode = "answering from the local memory fallback"
	}
	s.notice(halt.Notice{
		Kind:    halt.NoticeStoreDown,
		Message: "redis store unreachable; " + mode,
		Attrs:   []slog.Attr{slog.String("error", err.Error())},
	}, slog.LevelWarn)
	if start {
		s.wg.Add(1)
		go s.probe()
	}
}

// probe pings Redis until it answers, loads the script, and switches back.
func (s *Store) probe() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.probeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(s.cfg.timeout, 100*time.Millisecond))
		err := s.client.Ping(ctx).Err()
		if err == nil {
			err = decideScript.Load(ctx, s.client).Err()
		}
		cancel()
		if err != nil {
			s.mu.Lock()
			s.lastErr = err
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		s.probing = false
		s.down.Store(false)
		s.mu.Unlock()
		s.notice(halt.Notice{Kind: halt.NoticeStoreUp, Message: "redis store reachable again"}, slog.LevelInfo)
		return
	}
}

func (s *Store) notice(n halt.Notice, level slog.Level) {
	if s.cfg.telemetry != nil {
		s.cfg.telemetry.OnNotice(context.Background(), n)
	}
	attrs := append([]slog.Attr{slog.String("kind", string(n.Kind))}, n.Attrs...)
	s.cfg.logger.LogAttrs(context.Background(), level, "haltredis: "+n.Message, attrs...)
}

// Down reports whether the store currently considers Redis unreachable.
func (s *Store) Down() bool { return s.down.Load() }

// Close stops the store's background work and its memory fallback. It does
// not close the client. Take then returns halt.ErrStoreClosed. Close is
// idempotent.
func (s *Store) Close() error {
	s.closeOne.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		s.wg.Wait()
		if s.mem != nil {
			_ = s.mem.Close()
		}
	})
	return nil
}
