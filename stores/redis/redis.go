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
)

// ErrTimeout is returned (wrapped) when Redis did not answer within the
// store's timeout (see WithTimeout).
var ErrTimeout = errors.New("haltredis: redis did not answer in time")

// errQueueFull is returned when Redis is so far behind that the store's
// queue is full: the call fails, and Redis is not counted as down for it.
var errQueueFull = fmt.Errorf("%w: request queue full", ErrTimeout)

// ErrDown is returned (wrapped, with the last failure) while the store
// considers Redis unreachable: it fails fast, without a round trip, until a
// probe finds Redis back. The limiter then decides with its fallback store
// (halt.WithFallback) or its failure mode.
var ErrDown = errors.New("haltredis: redis is unreachable")

// Store is a halt.Store on Redis: single node, Sentinel or Cluster, through
// any redis.UniversalClient. Every decision is one Lua script run atomically
// in Redis, so any number of app instances share one exact limit. It also
// implements halt.Peeker, halt.Resetter, halt.Refunder, halt.MultiTaker
// (several policies of one client in one script: see TakeAll) and
// halt.NoticeSource: halt.New registers the limiter's telemetry, which then
// receives the store's halt.NoticeStoreDown and halt.NoticeStoreUp. It is
// safe for concurrent use. Create it with New and Close it when done (Close
// does not close the client).
//
// By default the scripts read the clock from Redis TIME and ignore the now
// passed to Take, Peek and Refund, so app servers whose clocks disagree
// still share one limit; WithCallerClock uses now instead.
type Store struct {
	// The limiters' telemetry (see notice).
	halt.NoticeSinks

	client redis.UniversalClient
	cfg    config
	start  time.Time // base of the monotonic cache clock
	cache  *blockCache

	policies sync.Map // *halt.Policy -> *policyArgs
	npol     atomic.Int64

	queue   chan *call
	inline  bool         // the client honours context deadlines: see runInline
	busy    atomic.Int32 // round trips in flight
	waiting atomic.Int32 // calls waiting for Redis
	calls   sync.Pool
	bufs    sync.Pool

	// Reachability (see health.go): of the server, or of each Cluster
	// master; how many are down, how many have a run of timeouts.
	cc       *redis.ClusterClient // the client, when it is a Cluster's
	one      health
	nodes    sync.Map // master address -> *health
	ndown    atomic.Int32
	nsuspect atomic.Int32

	nodeQueues sync.Map // master address -> chan *call (cluster.go)

	stop     chan struct{}
	wg       sync.WaitGroup
	closed   atomic.Bool
	closeOne sync.Once
}

var (
	_ halt.Store        = (*Store)(nil)
	_ halt.Peeker       = (*Store)(nil)
	_ halt.Resetter     = (*Store)(nil)
	_ halt.Refunder     = (*Store)(nil)
	_ halt.MultiTaker   = (*Store)(nil)
	_ halt.NoticeSource = (*Store)(nil)
)

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
		s.cc = c
	}
	if cfg.cacheSize > 0 {
		s.cache = newBlockCache(cfg.cacheSize)
	}
	s.calls.New = func() any { return &call{done: make(chan struct{}, 1)} }
	s.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	for range cfg.workers {
		s.wg.Add(1)
		go s.worker(s.queue)
	}
	return s, nil
}

// op is what a call asks of Redis.
type op uint8

const (
	opDecide  op = iota // the decision script (Take)
	opPeek              // the read-only decision script (Peek)
	opRefund            // the refund script (Refund)
	opTakeAll           // the several-keys decision script (TakeAll)
	opReset             // DEL (Reset)
)

// scripts holds each script op's script.
var scripts = [...]*redis.Script{opDecide: decideScript, opPeek: peekScript, opRefund: refundScript,
	opTakeAll: takeAllScript}

func (o op) String() string {
	switch o {
	case opPeek:
		return "peek"
	case opRefund:
		return "refund"
	case opTakeAll:
		return "take_all"
	case opReset:
		return "reset"
	}
	return "take"
}

// call is one operation on its way through a pipeline.
type call struct {
	keys  [1]string
	args  [7]any
	nargs int
	op    op
	state atomic.Int32 // callQueued, callTaken, callAbandoned, callDone
	alg   halt.Algorithm
	res   halt.Result
	rp    reply
	err   error
	done  chan struct{}
	timer *time.Timer

	// TakeAll's keys, arguments, algorithms and answers. The call owns
	// them: its caller copies the answers out once the call is done, so
	// a call abandoned to a worker never writes what its caller reuses.
	mkeys []string
	margs []any
	malg  []halt.Algorithm
	mres  []halt.Result
	mrp   []reply
}

// keyList and argList are the call's KEYS and ARGV.
func (c *call) keyList() []string {
	if c.op == opTakeAll {
		return c.mkeys
	}
	return c.keys[:]
}

func (c *call) argList() []any {
	if c.op == opTakeAll {
		return c.margs
	}
	return c.args[:c.nargs]
}

// release drops what the call refers to, before it goes back to the pool.
func (c *call) release() {
	c.keys[0] = ""
	if c.op == opTakeAll {
		clear(c.mkeys)
		clear(c.margs)
	}
}

const (
	callQueued    int32 = iota // waiting for a worker
	callTaken                  // in a worker's pipeline
	callAbandoned              // its caller gave up; the worker drops it
	callDone                   // answered; done has a value
)

// cmdable is what a call is sent through: the client or a pipeline.
type cmdable interface {
	redis.Scripter
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// send queues or runs c's command on r.
func (c *call) send(ctx context.Context, r cmdable) *redis.Cmd {
	if c.op == opReset {
		return r.Do(ctx, "DEL", c.keys[0])
	}
	return scripts[c.op].EvalSha(ctx, r, c.keyList(), c.argList()...)
}

// answer reads cmd's reply into c.
func (c *call) answer(cmd *redis.Cmd) {
	if err := cmd.Err(); err != nil {
		c.err = err
	} else if c.op <= opPeek {
		c.res, c.err = parseReply(cmd.Val(), c.alg, &c.rp)
	} else if c.op == opTakeAll {
		c.err = c.parseAll(cmd.Val())
	}
}

// parseAll reads TakeAll's answer, one decision script reply per key.
func (c *call) parseAll(v any) error {
	list, ok := v.([]any)
	if !ok || len(list) != len(c.mkeys) {
		return fmt.Errorf("haltredis: unexpected script reply %v", v)
	}
	for i, x := range list {
		var err error
		if c.mres[i], err = parseReply(x, c.malg[i], &c.mrp[i]); err != nil {
			return err
		}
	}
	return nil
}

// Take implements halt.Store: it runs one decision for key in Redis. With
// the default server clock, now is not used. Instants and the policy's
// durations are whole microseconds in Redis: a policy whose Window,
// BlockDuration or sliding sub-window is not a whole number of microseconds
// is an error. While the store considers Redis down, Take returns an error
// wrapping ErrDown at once.
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
	t0 := s.cacheClock(now)

	bp := s.bufs.Get().(*[]byte)
	rk := s.appendKey((*bp)[:0], key, pa)
	*bp = rk
	if s.cache != nil {
		if r, ok := s.cache.get(rk, p, pa, cost, t0); ok {
			s.bufs.Put(bp)
			return r, nil
		}
	}
	rks := string(rk)
	s.bufs.Put(bp)
	if err := s.refuse(rks); err != nil {
		return halt.Result{}, err
	}

	began := s.clock()
	r, rp, err := s.do(ctx, s.newCall(opDecide, rks, p, pa, now, cost))
	if err != nil {
		return halt.Result{}, s.failed(ctx, opDecide, key, rks, began, err)
	}
	if s.cache != nil {
		switch {
		case r.Allowed:
			s.cache.drop(rks)
		case r.Reason != halt.ReasonCostExceedsCapacity:
			s.cache.put(rks, pa, cost, t0, r, &rp)
		}
	}
	return r, nil
}

// cacheClock is the over-limit cache's clock at a request of instant now:
// now itself (in nanoseconds, to the microsecond the scripts see) with
// WithCallerClock, the monotonic time since New otherwise. Read it before
// the request is sent.
func (s *Store) cacheClock(now time.Time) int64 {
	if s.cfg.callerClock {
		return now.UnixMicro() * 1000
	}
	return int64(time.Since(s.start))
}

// Peek implements halt.Peeker: what Take would answer for key at now (the
// server's clock by default, as for Take), from Redis, writing nothing. A
// cooldown the answer would start is not reported; one running is.
func (s *Store) Peek(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) (halt.Result, error) {
	if cost <= 0 {
		cost = p.RequestCost()
	}
	rk, pa, err := s.prepare(key, p)
	if err != nil {
		return halt.Result{}, err
	}
	began := s.clock()
	r, _, err := s.do(ctx, s.newCall(opPeek, rk, p, pa, now, cost))
	if err != nil {
		return halt.Result{}, s.failed(ctx, opPeek, key, rk, began, err)
	}
	return r, nil
}

// Refund implements halt.Refunder: it gives cost (0: the policy's cost)
// back to key at now, in one script, with core's Policy.Refund arithmetic
// and the same clock as Take. A key Redis does not hold is full already and
// is left alone; a cooldown stays. The key's entry in the over-limit cache
// is dropped, so the next Take asks Redis.
func (s *Store) Refund(ctx context.Context, key []byte, p *halt.Policy, now time.Time, cost int64) error {
	if cost <= 0 {
		cost = p.RequestCost()
	}
	rk, pa, err := s.prepare(key, p)
	if err != nil {
		return err
	}
	began := s.clock()
	_, _, err = s.do(ctx, s.newCall(opRefund, rk, p, pa, now, cost))
	if s.cache != nil {
		s.cache.drop(rk)
	}
	if err != nil {
		return s.failed(ctx, opRefund, key, rk, began, err)
	}
	return nil
}

// Reset implements halt.Resetter: it deletes key's state under p, cooldown
// included, and its over-limit cache entry. It deletes one Redis key, the
// one p's algorithm and window name (see WithPrefix): state the same client
// key has under another algorithm or window, from an earlier version of
// the policy, is left to expire.
func (s *Store) Reset(ctx context.Context, key []byte, p *halt.Policy) error {
	rk, pa, err := s.prepare(key, p)
	if err != nil {
		return err
	}
	began := s.clock()
	_, _, err = s.do(ctx, s.newCall(opReset, rk, p, pa, time.Time{}, 0))
	if s.cache != nil {
		s.cache.drop(rk)
	}
	if err != nil {
		return s.failed(ctx, opReset, key, rk, began, err)
	}
	return nil
}

// prepare is what Peek, Refund and Reset do before asking Redis: the
// checks Take makes, and the Redis key.
func (s *Store) prepare(key []byte, p *halt.Policy) (string, *policyArgs, error) {
	if s.closed.Load() {
		return "", nil, halt.ErrStoreClosed
	}
	pa := s.policyArgs(p)
	if pa.err != nil {
		return "", nil, pa.err
	}
	rk := string(s.appendKey(nil, key, pa))
	if err := s.refuse(rk); err != nil {
		return "", nil, err
	}
	return rk, pa, nil
}

// appendKey appends the Redis key of key under pa to b: the prefix, the
// limiter's key as it is (its braces are the Cluster hash tag), and the
// algorithm's suffix.
func (s *Store) appendKey(b, key []byte, pa *policyArgs) []byte {
	return append(append(append(b, s.cfg.prefix...), key...), pa.suffix...)
}

// newCall returns a pooled call for op on Redis key rk.
func (s *Store) newCall(o op, rk string, p *halt.Policy, pa *policyArgs, now time.Time, cost int64) *call {
	c := s.calls.Get().(*call)
	c.op = o
	c.keys[0] = rk
	c.err = nil
	c.nargs = 0
	if o == opReset {
		return c
	}
	if s.cfg.callerClock {
		c.args[0] = now.UnixMicro()
	} else {
		c.args[0] = 0
	}
	c.args[1] = cost
	c.alg = p.Algorithm
	c.nargs = 2 + copy(c.args[2:], pa.args[:pa.nargs])
	return c
}

// do runs c within the store's timeout, on this goroutine or through a
// pipeline worker, and returns its answer. It recycles c.
func (s *Store) do(ctx context.Context, c *call) (halt.Result, reply, error) {
	if err := s.exec(ctx, c); err != nil {
		return halt.Result{}, reply{}, err
	}
	return s.finish(c)
}

// exec runs c within the store's timeout, on this goroutine or through a
// pipeline worker. On nil, c holds its answer (and c.err Redis's error, if
// any) for the caller to read and recycle; otherwise c is gone (abandoned
// to its worker, or recycled) and the error says why.
func (s *Store) exec(ctx context.Context, c *call) error {
	// Alone: run on this goroutine. With company: share a pipeline.
	alone := s.waiting.Add(1) == 1
	defer s.waiting.Add(-1)
	if s.inline && alone && s.busy.Load() == 0 && s.busy.CompareAndSwap(0, 1) {
		s.runInline(ctx, c)
		return nil
	}
	c.state.Store(callQueued)
	if c.timer == nil {
		c.timer = time.NewTimer(s.cfg.timeout)
	} else {
		c.timer.Reset(s.cfg.timeout)
	}

	select {
	case s.queueOf(c) <- c:
	default: // the queue is full: Redis is far behind
		s.recycle(c)
		return errQueueFull
	}

	var err error
	select {
	case <-c.done:
		return nil
	case <-c.timer.C:
		err = fmt.Errorf("%w (%v)", ErrTimeout, s.cfg.timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if !c.state.CompareAndSwap(callQueued, callAbandoned) && !c.state.CompareAndSwap(callTaken, callAbandoned) {
		// The answer arrived meanwhile: use it.
		<-c.done
		return nil
	}
	// Abandoned: the worker drops c (it is not reused).
	return err
}

// runInline runs c on the caller's goroutine, with no hand-off: when
// nothing else is in flight and the client bounds its I/O by the context's
// deadline (ContextTimeoutEnabled), so the timeout still holds.
func (s *Store) runInline(ctx context.Context, c *call) {
	tctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	cmd := c.send(tctx, s.client)
	if c.op != opReset && isNoScript(cmd.Err()) { // EVAL also caches the script again
		cmd = scripts[c.op].Eval(tctx, s.client, c.keyList(), c.argList()...)
	}
	s.busy.Add(-1)
	if err := cmd.Err(); err == nil || !isDownErr(err) {
		s.replied(c.keyList()[0])
	}
	c.answer(cmd)
	if c.err != nil && tctx.Err() != nil && ctx.Err() == nil {
		c.err = fmt.Errorf("%w (%v): %w", ErrTimeout, s.cfg.timeout, c.err)
	}
	cancel()
}

// finish reads a delivered call and recycles it.
func (s *Store) finish(c *call) (halt.Result, reply, error) {
	r, rp, err := c.res, c.rp, c.err
	s.recycle(c)
	return r, rp, err
}

// recycle returns a call its caller is done with to the pool.
func (s *Store) recycle(c *call) {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.release()
	s.calls.Put(c)
}

// failed handles an operation's error on Redis key rk, begun at began (see failedOn), and
// wraps it.
func (s *Store) failed(ctx context.Context, o op, key []byte, rk string, began int64, err error) error {
	s.failedOn(ctx, rk, began, err)
	return fmt.Errorf("haltredis: %v %q: %w", o, key, err)
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

// worker sends the calls of queue in pipelines, one command each.
func (s *Store) worker(queue chan *call) {
	defer s.wg.Done()
	pipe := s.client.Pipeline()
	batch := make([]*call, 0, s.cfg.maxBatch)
	cmds := make([]*redis.Cmd, 0, s.cfg.maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-s.stop:
			return
		case c := <-queue:
			if c.state.CompareAndSwap(callQueued, callTaken) {
				batch = append(batch, c)
			}
		}
	fill:
		for len(batch) < s.cfg.maxBatch {
			select {
			case c := <-queue:
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
		cmds = append(cmds, c.send(ctx, pipe))
	}
	_, _ = pipe.Exec(ctx)

	// The script cache is empty after a restart or failover: load the
	// scripts and send those calls again. NOSCRIPT means the script did
	// not run, so nothing is counted twice. On a Cluster the calls go
	// again as EVAL, which caches the script on the nodes that lack it
	// (SCRIPT LOAD through the Cluster's client would wait for every
	// master, a dead or hung one included).
	var retry []int
	var missing [len(scripts)]bool
	for i, cmd := range cmds {
		if batch[i].op != opReset && isNoScript(cmd.Err()) {
			retry = append(retry, i)
			missing[batch[i].op] = true
		}
	}
	if len(retry) > 0 {
		var loaded [len(scripts)]bool
		for o, m := range missing {
			loaded[o] = m && s.cc == nil && scripts[o].Load(ctx, s.client).Err() == nil
		}
		for _, i := range retry {
			c := batch[i]
			if loaded[c.op] {
				cmds[i] = c.send(ctx, pipe)
			} else {
				cmds[i] = scripts[c.op].Eval(ctx, pipe, c.keyList(), c.argList()...)
			}
		}
		_, _ = pipe.Exec(ctx)
	}

	for i, c := range batch {
		if err := cmds[i].Err(); err == nil || !isDownErr(err) {
			s.replied(c.keyList()[0])
		}
		c.answer(cmds[i])
		cmds[i] = nil
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
	if r.Allowed && r.RetryAfter > 0 { // a reservation (Policy.MaxWait): the wait
		r.Wait, r.RetryAfter = r.RetryAfter, 0
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

// notice reports n to the limiters' telemetry (registered by halt.New), or,
// when there is none (the store used on its own), logs it to the store's
// logger, so it is never lost and never reported twice.
func (s *Store) notice(n halt.Notice) {
	ctx := context.Background()
	if s.Notify(ctx, n) > 0 {
		return
	}
	attrs := append([]slog.Attr{slog.String("kind", string(n.Kind))}, n.Attrs...)
	s.cfg.logger.LogAttrs(ctx, n.Level, "haltredis: "+n.Message, attrs...)
}

// Close stops the store's background work. It does not close the client.
// Take, TakeAll, Peek, Refund and Reset then return halt.ErrStoreClosed.
// Close is idempotent.
//
// Close waits for the background goroutines at most the store's timeout
// (WithTimeout): one stuck in the client's I/O with a server that hangs,
// which only the client's own timeouts end (ReadTimeout, 3s by default,
// unless ContextTimeoutEnabled), is left to end by itself, touching nothing
// of the store's but its own pipeline.
func (s *Store) Close() error {
	s.closeOne.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		done := make(chan struct{})
		go func() {
			s.wg.Wait()
			close(done)
		}()
		t := time.NewTimer(s.cfg.timeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
	})
	return nil
}
