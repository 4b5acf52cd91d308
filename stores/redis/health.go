package haltredis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
)

// hungAfter is how many timeouts in a row, with no reply from the node in
// between, the last of a call begun after the first timeout, make a node
// count as hung (see timedOut). One slow answer (the app's own CPU, a GC pause, a burst queued
// behind others) is not evidence that Redis is unreachable: only this, or
// an error that says so (connection refused or reset, LOADING,
// CLUSTERDOWN…), switches the node's keys to the failure mode.
const hungAfter = 3

// health is what the store knows of one Redis node's reachability: one for
// a single server or Sentinel's master (Store.one), one per master address
// of a Cluster (Store.nodes).
type health struct {
	addr string // the node's address; "" for Store.one
	down atomic.Bool

	mu       sync.Mutex // guards the fields below
	lastErr  error
	probing  bool
	suspect  int64 // the cache clock at the first timeout of a run, 0 for none
	timeouts int   // timeouts in a row, with no reply in between
}

// healthOf returns the health of the node that serves Redis key rk: the
// store's one, except on a Cluster, where it is the key's master's (the
// one too when the client cannot tell which master that is).
func (s *Store) healthOf(rk string) *health {
	if s.cc == nil {
		return &s.one
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	n, err := s.cc.MasterForKey(ctx, rk)
	cancel()
	if err != nil {
		return &s.one
	}
	addr := n.Options().Addr
	if v, ok := s.nodes.Load(addr); ok {
		return v.(*health)
	}
	v, _ := s.nodes.LoadOrStore(addr, &health{addr: addr})
	return v.(*health)
}

// refuse returns the error of an operation on Redis key rk while the node
// serving it is down, or nil. It costs one atomic load while every node is
// up.
func (s *Store) refuse(rk string) error {
	if s.ndown.Load() == 0 {
		return nil
	}
	if s.one.down.Load() {
		return s.downErr(&s.one)
	}
	if s.cc == nil {
		return nil
	}
	if h := s.healthOf(rk); h.down.Load() {
		return s.downErr(h)
	}
	return nil
}

// downErr is the error of an operation refused while h is down.
func (s *Store) downErr(h *health) error {
	h.mu.Lock()
	err := h.lastErr
	h.mu.Unlock()
	if h.addr != "" {
		return fmt.Errorf("%w: node %s: %w", ErrDown, h.addr, err)
	}
	return fmt.Errorf("%w: %w", ErrDown, err)
}

// replied records a reply from the node serving rk (a decision, or an
// error reply about the request): a run of timeouts on it is over. It costs
// one atomic load while no node is suspect.
func (s *Store) replied(rk string) {
	if s.nsuspect.Load() == 0 {
		return
	}
	h := s.healthOf(rk)
	h.mu.Lock()
	if h.suspect != 0 {
		h.suspect, h.timeouts = 0, 0
		s.nsuspect.Add(-1)
	}
	h.mu.Unlock()
}

// isTimeout reports whether err says only that an answer took too long:
// the store's timeout, the client's, or its connection pool's.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, redis.ErrPoolTimeout) || (errors.As(err, &ne) && ne.Timeout())
}

// failedOn handles the error of an operation on Redis key rk begun at
// began (the store's clock): the caller's own, an error reply about the
// request, a timeout (evidence only as part of a run: see hungAfter), or an
// error that says the node is unreachable.
func (s *Store) failedOn(ctx context.Context, rk string, began int64, err error) {
	switch {
	case isCallerErr(ctx, err) || errors.Is(err, errQueueFull) || !isDownErr(err):
		if !isDownErr(err) {
			s.replied(rk) // an error reply is a reply
		}
	case isTimeout(err):
		s.timedOut(s.healthOf(rk), began, err)
	default:
		s.markDown(s.healthOf(rk), err)
	}
}

// timedOut counts a timeout on h of a call begun at began, and marks h
// down when the run has hungAfter timeouts and this call began after the
// run's first timeout: the node has not answered for a whole timeout since
// the store first noticed, which one stall of the app (whose timeouts all
// come together when it ends) does not produce.
func (s *Store) timedOut(h *health, began int64, err error) {
	now := s.clock()
	if now == 0 {
		now = 1
	}
	h.mu.Lock()
	if h.suspect == 0 {
		h.suspect = now
		s.nsuspect.Add(1)
		// The client may hide a refused connection behind the timeout (it
		// retries dialing until the deadline): look for that evidence.
		if network, addr := s.addrOf(h); addr != "" && !s.closed.Load() {
			s.wg.Add(1)
			go s.checkRefused(h, network, addr)
		}
	}
	h.timeouts++
	hung := h.timeouts >= hungAfter && began >= h.suspect
	if hung {
		h.suspect, h.timeouts = 0, 0
		s.nsuspect.Add(-1)
	}
	h.mu.Unlock()
	if hung {
		s.markDown(h, fmt.Errorf("%d timeouts in a row: %w", hungAfter, err))
	}
}

// addrOf returns the network and address to dial h's node at, or "" when
// the client does not say (Sentinel's master is found by the client).
func (s *Store) addrOf(h *health) (network, addr string) {
	if h.addr != "" {
		return "tcp", h.addr
	}
	if c, ok := s.client.(*redis.Client); ok {
		o := c.Options()
		if o.Dialer != nil && o.Addr == "FailoverClient" {
			return "", ""
		}
		if o.Network == "" {
			return "tcp", o.Addr
		}
		return o.Network, o.Addr
	}
	return "", ""
}

// checkRefused dials h's node once, after a timeout started a run: a
// refused connection is evidence that the node is down (the client, which
// retries dialing, reports it as a timeout).
func (s *Store) checkRefused(h *health, network, addr string) {
	defer s.wg.Done()
	d := net.Dialer{Timeout: s.cfg.timeout}
	conn, err := d.Dial(network, addr)
	if err == nil {
		_ = conn.Close()
		return
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		s.markDown(h, err)
	}
}

// clock is the store's monotonic clock, ns since New.
func (s *Store) clock() int64 { return int64(time.Since(s.start)) }

// markDown switches h's keys to the failure mode after evidence that its
// node is unreachable, reports it once, and probes the node at once and
// then every probe interval until it answers.
func (s *Store) markDown(h *health, err error) {
	h.mu.Lock()
	h.lastErr = err
	if h.suspect != 0 {
		h.suspect, h.timeouts = 0, 0
		s.nsuspect.Add(-1)
	}
	if h.down.Load() || s.closed.Load() {
		h.mu.Unlock()
		return
	}
	h.down.Store(true)
	s.ndown.Add(1)
	start := !h.probing
	h.probing = true
	h.mu.Unlock()

	attrs := []slog.Attr{slog.String("error", err.Error())}
	msg := "redis store unreachable; failing fast (the limiter's fallback store or failure mode decides)"
	if h.addr != "" {
		attrs = append(attrs, slog.String("node", h.addr))
		msg = "redis cluster node unreachable; its keys fail fast (the limiter's fallback store or failure mode decides)"
	}
	s.notice(halt.Notice{Kind: halt.NoticeStoreDown, Message: msg, Level: slog.LevelWarn, Attrs: attrs})
	if start {
		s.wg.Add(1)
		go s.probe(h)
	}
}

// probe pings h's node at once and then every probe interval until it
// answers, loads the decision script on it, and switches h back.
func (s *Store) probe(h *health) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.probeInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), max(s.cfg.timeout, 100*time.Millisecond))
		err := s.ping(ctx, h)
		cancel()
		if err == nil {
			h.mu.Lock()
			h.probing = false
			h.down.Store(false)
			s.ndown.Add(-1)
			h.mu.Unlock()
			msg := "redis store reachable again"
			var attrs []slog.Attr
			if h.addr != "" {
				msg = "redis cluster node reachable again"
				attrs = []slog.Attr{slog.String("node", h.addr)}
			}
			s.notice(halt.Notice{Kind: halt.NoticeStoreUp, Message: msg, Level: slog.LevelInfo, Attrs: attrs})
			return
		}
		h.mu.Lock()
		h.lastErr = err
		h.mu.Unlock()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// ping checks that h's node answers, can decide (a Cluster master that
// says its cluster is down answers CLUSTERDOWN to every script), and has
// the decision script. On a Cluster, Store.one stands for the Cluster's
// layout: down while the client cannot tell which master serves a key, and
// back as soon as it can, whatever the state of each master (each has its
// own health).
func (s *Store) ping(ctx context.Context, h *health) error {
	if h.addr == "" {
		if s.cc != nil {
			_, err := s.cc.MasterForKey(ctx, "halt")
			return err
		}
		err := s.client.Ping(ctx).Err()
		if err == nil {
			err = decideScript.Load(ctx, s.client).Err()
		}
		return err
	}
	// The node's current client, from the Cluster's state (a node that
	// came back may have a new one).
	var found atomic.Bool
	err := s.cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		if c.Options().Addr != h.addr {
			return nil
		}
		found.Store(true)
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && !strings.Contains(info, "cluster_state:ok") {
			err = fmt.Errorf("node %s: cluster state not ok", h.addr)
		}
		if err == nil {
			err = decideScript.Load(ctx, c).Err()
		}
		return err
	})
	if err == nil && !found.Load() {
		return nil // no longer a master: no key maps to it
	}
	return err
}

// Down reports whether the store currently considers Redis unreachable:
// the server, or on a Cluster at least one master.
func (s *Store) Down() bool { return s.ndown.Load() > 0 }
