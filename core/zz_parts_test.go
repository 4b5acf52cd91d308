package halt
import ("context"; "fmt"; "net/http"; "runtime"; "syscall"; "testing"; "time"; "unsafe")

func leastCPU(op func()) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const ops, rounds = 20000, 300
	for range ops {
		op()
	}
	best := 1e18
	for range rounds {
		t0 := tcpu()
		for range ops {
			op()
		}
		if v := float64(tcpu()-t0) / ops; v < best {
			best = v
		}
	}
	return best
}

func tcpu() int64 {
	var ts syscall.Timespec
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}
type zzStore struct{}

func (zzStore) Take(context.Context, []byte, *Policy, time.Time, int64) (Result, error) {
	return Result{Allowed: true, Remaining: 5}, nil
}

type zzReq struct{ peer string; h http.Header }

func (r *zzReq) Context() context.Context          { return context.Background() }
func (r *zzReq) Method() string                    { return "GET" }
func (r *zzReq) Path() string                      { return "/api/items" }
func (r *zzReq) Header(n string) string            { return r.h.Get(n) }
func (r *zzReq) HeaderValues(n string) []string    { return r.h[n] }
func (r *zzReq) RemoteAddr() string                { return r.peer }
func (r *zzReq) Route() string                     { return "" }
func (r *zzReq) Value(any) any                     { return nil }

var zsink bool

func TestZZParts(t *testing.T) {
	l, err := New(zzStore{}, Policy{Name: "bench", Limit: 100, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	req := &zzReq{peer: "198.18.0.7:52311", h: http.Header{}}
	ctx := context.Background()
	buf := make([]byte, 0, 128)
	var d0 Decision
	var r0 Result
	cp := l.policy
	for range 2 {
		fmt.Printf("isNil %.1f  target0 %.1f  decisionInto %.1f  report %.1f started %.1f takeIface %.1f\n",
			leastCPU(func() { zsink = isNil(req) }),
			leastCPU(func() { var tg target; zsink = tg.early }),
			leastCPU(func() { var d Decision; l.decisionInto(cp, &r0, time.Time{}, &d); d0 = d }),
			leastCPU(func() { var tg target; l.report(ctx, &tg, &d0) }),
			leastCPU(func() { zsink = l.started(time.Time{}).IsZero() }),
			leastCPU(func() { r, _ := l.store.Take(ctx, buf, &cp.Policy, time.Time{}, 0); zsink = r.Allowed }),
		)
		fmt.Printf("parse4 %.1f  ipresolve %.1f  resolve %.1f  check(nopstore) %.1f  clock %.1f keysum %.1f pool %.1f\n",
			leastCPU(func() { _, _, ok := parsePeer4(req.peer); zsink = ok }),
			leastCPU(func() { c := l.ip.resolve(req); zsink = c.ok }),
			leastCPU(func() { var tg target; l.resolve(ctx, req, nil, time.Time{}, buf, &tg); zsink = tg.early }),
			leastCPU(func() { d, _ := l.Check(ctx, req); zsink = d.Allowed }),
			leastCPU(func() { zsink = l.clock.Now().IsZero() }),
			leastCPU(func() { zsink = keySum(buf) == 0 }),
			leastCPU(func() { bp := l.keyPool.Get().(*[]byte); l.keyPool.Put(bp) }),
		)
	}
}
