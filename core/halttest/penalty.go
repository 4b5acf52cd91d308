package halttest

import (
	"context"
	"sync"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
)

// SuitePenalty is the penalty configuration of the suite: a threshold of
// 3, 10-minute penalties at half the limits, decaying 1 point an hour,
// doubling per repeat within a day, at most 30 minutes.
var SuitePenalty = halt.PenaltyConfig{Threshold: 3, Duration: 10 * time.Minute, Multiplier: 0.5, DecayRate: 1,
	Escalation: 2, Memory: 24 * time.Hour, MaxDuration: 30 * time.Minute}

// RunPenaltyTests is the conformance suite of [halt.PenaltyStore]; it runs
// as part of [RunStoreTests] for stores that implement it. The store must
// honour the op's Now.
func RunPenaltyTests(t *testing.T, newStore func(t *testing.T) halt.Store) {
	t.Helper()
	us := func(d time.Duration) int64 { return Base.Add(d).UnixMicro() }
	t.Run("ScoreDecayEscalationBan", func(t *testing.T) {
		ps := newStore(t).(halt.PenaltyStore)
		key := halt.PenaltyKey(unique("offender"))
		cfg := SuitePenalty
		step := func(kind halt.PenaltyOpKind, severity float64, d time.Duration, at time.Duration, want halt.PenaltyState, wantStarted bool) {
			t.Helper()
			op := halt.PenaltyOp{Kind: kind, Config: &cfg, Severity: severity, Duration: d, Now: Base.Add(at)}
			st, now, started, err := ps.Penalty(context.Background(), key, &op)
			if err != nil || st != want || started != wantStarted || now != us(at) {
				t.Fatalf("op %d severity %v at +%v: %+v started %v now %d %v\nwant %+v started %v", kind, severity, at, st, started, now, err, want, wantStarted)
			}
		}
		step(halt.PenaltyRead, 0, 0, 0, halt.PenaltyState{}, false)
		step(halt.PenaltyRecord, 1, 0, 0, halt.PenaltyState{Score: 1, Stamp: us(0)}, false)
		// Half an hour decays half a point.
		step(halt.PenaltyRecord, 1, 0, 30*time.Minute, halt.PenaltyState{Score: 1.5, Stamp: us(30 * time.Minute)}, false)
		// 3 reached: a first penalty of 10 minutes; the score starts again.
		first := halt.PenaltyState{Stamp: us(30 * time.Minute), Until: us(40 * time.Minute), Strike: 1, Last: us(30 * time.Minute)}
		step(halt.PenaltyRecord, 1.5, 0, 30*time.Minute, first, true)
		// During the penalty, violations add up but start nothing.
		during := first
		during.Score, during.Stamp = 4, us(35*time.Minute)
		step(halt.PenaltyRecord, 4, 0, 35*time.Minute, during, false)
		// Once it is over, the score (decayed) starts a second, twice as long.
		second := halt.PenaltyState{Stamp: us(40 * time.Minute), Until: us(60 * time.Minute), Strike: 2, Last: us(40 * time.Minute)}
		step(halt.PenaltyRecord, 0, 0, 40*time.Minute, second, true)
		// The third would last 40 minutes: capped at 30.
		third := halt.PenaltyState{Stamp: us(time.Hour), Until: us(90 * time.Minute), Strike: 3, Last: us(time.Hour)}
		step(halt.PenaltyRecord, 3, 0, time.Hour, third, true)
		// Unban lifts it and clears the score; the strikes stay.
		lifted := halt.PenaltyState{Stamp: us(70 * time.Minute), Strike: 3, Last: us(time.Hour)}
		step(halt.PenaltyUnban, 0, 0, 70*time.Minute, lifted, false)
		// A ban of an hour, and one for good.
		banned := lifted
		banned.Until, banned.Banned = us(130*time.Minute), true
		step(halt.PenaltyBan, 0, time.Hour, 70*time.Minute, banned, true)
		step(halt.PenaltyUnban, 0, 0, 80*time.Minute, halt.PenaltyState{Stamp: us(80 * time.Minute), Strike: 3, Last: us(time.Hour)}, false)
		// Past the memory (a day after the last start), a penalty is a first one again.
		fresh := halt.PenaltyState{Stamp: us(26 * time.Hour), Until: us(26*time.Hour + 10*time.Minute), Strike: 1, Last: us(26 * time.Hour)}
		step(halt.PenaltyRecord, 3, 0, 26*time.Hour, fresh, true)
	})
	t.Run("ConcurrentRecordsAddUp", func(t *testing.T) {
		s := newStore(t)
		cfg := halt.PenaltyConfig{Threshold: 1e6, Duration: time.Minute, Multiplier: 0.5}
		key := halt.PenaltyKey(unique("crowd"))
		var wg sync.WaitGroup
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				op := halt.PenaltyOp{Kind: halt.PenaltyRecord, Config: &cfg, Severity: 1, Now: Base}
				for i := 0; i < 4; i++ {
					if _, _, _, err := s.(halt.PenaltyStore).Penalty(context.Background(), key, &op); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		op := halt.PenaltyOp{Kind: halt.PenaltyRead, Config: &cfg, Now: Base}
		st, _, _, err := s.(halt.PenaltyStore).Penalty(context.Background(), key, &op)
		if err != nil || st.Score != 256 {
			t.Fatalf("after 256 records: %+v %v, want score 256", st, err)
		}
	})
}
