package haltredis

import "context"

// noWait is a context that is done already: the client's lookups with it
// answer from what it knows, without a round trip.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// queueOf returns the queue of c's pipeline workers. On a Cluster each
// master has a queue and workers of its own (WithPipelining's count), so a
// dead or hung master holds up its own keys only: never the keys of the
// masters that answer, nor the workers that serve them. Calls whose master
// the client cannot tell share the store's queue.
func (s *Store) queueOf(c *call) chan *call {
	if s.cc == nil {
		return s.queue
	}
	// The client's slot map as it stands: with none yet, loading one here
	// could wait for the client's dial timeout, past the store's; the
	// worker's pipeline loads it within the store's timeout.
	n, err := s.cc.MasterForKey(noWait, c.keyList()[0])
	if err != nil {
		return s.queue
	}
	addr := n.Options().Addr
	if q, ok := s.nodeQueues.Load(addr); ok {
		return q.(chan *call)
	}
	q, loaded := s.nodeQueues.LoadOrStore(addr, make(chan *call, cap(s.queue)))
	if !loaded && !s.closed.Load() {
		for range s.cfg.workers {
			s.wg.Add(1)
			go s.worker(q.(chan *call))
		}
	}
	return q.(chan *call)
}
