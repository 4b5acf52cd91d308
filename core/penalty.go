package halt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// PenaltyConfig says when a key is penalized and how hard. Recording a
// violation adds its severity to the key's abuse score, which decays
// linearly by DecayRate points per hour; when the score reaches Threshold
// the key is penalized for Duration, during which its limits are
// multiplied by Multiplier. Repeat offenders escalate: each penalty that
// starts within Memory of the previous one's start lasts Escalation times
// longer, up to MaxDuration.
type PenaltyConfig struct {
	// Threshold is the score that starts a penalty. Required, positive.
	Threshold float64
	// Duration is how long a first penalty lasts. Required, positive.
	Duration time.Duration
	// Multiplier scales the limits of a penalized key: 0.5 halves them.
	// Between 0 (exclusive) and 1.
	Multiplier float64
	// DecayRate is how many score points decay per hour; 0 never decays.
	DecayRate float64
	// Escalation multiplies the duration of each repeat penalty; 0 or 1
	// does not escalate.
	Escalation float64
	// Memory is how long after a penalty's start another one counts as a
	// repeat; 0 is a day.
	Memory time.Duration
	// MaxDuration caps escalated penalties; 0 is 32 times Duration.
	MaxDuration time.Duration
}

// Validate reports the first invalid field, or nil.
func (c *PenaltyConfig) Validate() error {
	bad := func(field, reason string, args ...any) error {
		return fmt.Errorf("halt: penalty config: %s: %s", field, fmt.Sprintf(reason, args...))
	}
	switch {
	case !(c.Threshold > 0) || math.IsInf(c.Threshold, 0):
		return bad("Threshold", "must be positive, got %v", c.Threshold)
	case c.Duration <= 0 || c.Duration > maxWindow:
		return bad("Duration", "must be positive and at most %v, got %v", maxWindow, c.Duration)
	case !(c.Multiplier > 0 && c.Multiplier <= 1):
		return bad("Multiplier", "must be in (0, 1], got %v", c.Multiplier)
	case !(c.DecayRate >= 0) || math.IsInf(c.DecayRate, 0):
		return bad("DecayRate", "must not be negative, got %v", c.DecayRate)
	case !(c.Escalation >= 0) || c.Escalation > 100:
		return bad("Escalation", "must be between 0 and 100, got %v", c.Escalation)
	case c.Memory < 0 || c.Memory > maxWindow:
		return bad("Memory", "must be between 0 and %v, got %v", maxWindow, c.Memory)
	case c.MaxDuration < 0 || c.MaxDuration > maxWindow:
		return bad("MaxDuration", "must be between 0 and %v, got %v", maxWindow, c.MaxDuration)
	}
	return nil
}

func (c *PenaltyConfig) memory() time.Duration {
	if c.Memory == 0 {
		return 24 * time.Hour
	}
	return c.Memory
}

func (c *PenaltyConfig) maxDuration() time.Duration {
	if c.MaxDuration == 0 {
		return min(32*c.Duration, maxWindow)
	}
	return max(c.MaxDuration, c.Duration)
}

// PenaltyDuration is how long the penalty numbered strike (1 for a first
// one) lasts: Duration times Escalation^(strike-1), at most MaxDuration,
// in whole microseconds (computed in float64 microseconds, as the Redis
// script computes it).
func (c *PenaltyConfig) PenaltyDuration(strike int64) time.Duration {
	us := float64(c.Duration / time.Microsecond)
	if c.Escalation > 1 && strike > 1 {
		us *= math.Pow(c.Escalation, float64(strike-1))
	}
	us = min(us, float64(c.maxDuration()/time.Microsecond))
	return time.Duration(int64(us)) * time.Microsecond
}

// PenaltyState is what a store keeps per penalized key; instants are
// Unix microseconds.
type PenaltyState struct {
	Score  float64 // the abuse score at Stamp
	Stamp  int64   // when Score was computed
	Until  int64   // the end of the penalty or ban, 0 for none
	Strike int64   // the number of the last penalty in the escalation (0: none)
	Last   int64   // the start of the last penalty
	Banned bool    // Until ends a ban, not a penalty
}

// ScoreAt is the score decayed to now.
func (c *PenaltyConfig) ScoreAt(s *PenaltyState, now int64) float64 {
	if s.Score <= 0 || c.DecayRate == 0 || now <= s.Stamp {
		return max(0, s.Score)
	}
	return max(0, s.Score-c.DecayRate*(float64(now-s.Stamp)/3.6e9))
}

// PenaltyOpKind is what a [PenaltyOp] asks.
type PenaltyOpKind uint8

const (
	// PenaltyRead reads the state.
	PenaltyRead PenaltyOpKind = iota
	// PenaltyRecord records a violation of Severity.
	PenaltyRecord
	// PenaltyBan bans the key for Duration (0: for good, about 100 years).
	PenaltyBan
	// PenaltyUnban ends a ban or a penalty and clears the score (the
	// escalation's memory stays).
	PenaltyUnban
)

// PenaltyOp is one penalty operation on one key, for a [PenaltyStore].
type PenaltyOp struct {
	Kind     PenaltyOpKind
	Config   *PenaltyConfig
	Severity float64
	Duration time.Duration
	Now      time.Time // the caller's instant; a store with its own clock uses that
}

// forever is a ban without end: about a century, in microseconds.
const forever = int64(100 * 365 * 24 * time.Hour / time.Microsecond)

// Apply runs op on s at now (Unix microseconds, the store's clock), as
// every PenaltyStore must. started reports a penalty (or ban) this op
// started. It returns how long the store must keep s (0: it may drop it).
func (op *PenaltyOp) Apply(s *PenaltyState, now int64) (started bool, keep time.Duration) {
	c := op.Config
	switch op.Kind {
	case PenaltyRecord:
		s.Score, s.Stamp = c.ScoreAt(s, now)+max(0, op.Severity), now
		if s.Until <= now && s.Score >= c.Threshold {
			if s.Strike > 0 && now-s.Last <= int64(c.memory()/time.Microsecond) {
				s.Strike++
			} else {
				s.Strike = 1
			}
			s.Until, s.Last, s.Banned = now+int64(c.PenaltyDuration(s.Strike)/time.Microsecond), now, false
			s.Score, started = 0, true
		}
	case PenaltyBan:
		d := int64(op.Duration / time.Microsecond)
		if d <= 0 {
			d = forever
		}
		s.Until, s.Banned, started = now+d, true, true
	case PenaltyUnban:
		s.Until, s.Banned, s.Score, s.Stamp = 0, false, 0, now
	}
	end := max(s.Until, s.Last+int64(c.memory()/time.Microsecond))
	if c.DecayRate > 0 && s.Score > 0 {
		end = max(end, s.Stamp+int64(s.Score/c.DecayRate*3.6e9)+1)
	} else if s.Score > 0 {
		end = max(end, now+forever)
	}
	if end <= now {
		return started, 0
	}
	return started, time.Duration(end-now) * time.Microsecond
}

// PenaltyStore is a store that keeps penalty states: each operation on a
// key is atomic, whatever the concurrency, across every process sharing
// the store. It returns the state after the op, the instant it decided at
// (Unix microseconds) and whether the op started a penalty or ban. As with
// [Store.Take], key and op are only valid during the call: a store that
// keeps either must copy it.
type PenaltyStore interface {
	Penalty(ctx context.Context, key []byte, op *PenaltyOp) (st PenaltyState, now int64, started bool, err error)
}

// Penalty is a key's standing under a [PenaltyConfig].
type Penalty struct {
	Active     bool      // penalized or banned now
	Banned     bool      // banned (every request rejected)
	Score      float64   // the abuse score now
	Until      time.Time // the end of the penalty or ban (zero when none)
	Multiplier float64   // what the key's limits are multiplied by: 1, the config's, or 0 when banned
	Strike     int64     // the penalty's number in its escalation
	Started    bool      // this call started the penalty or ban
	At         time.Time // the instant, by the store's clock
}

// IsActive reports whether the key is penalized or banned.
func (p *Penalty) IsActive() bool { return p.Active }

func penaltyOf(c *PenaltyConfig, st *PenaltyState, now int64, started bool) Penalty {
	p := Penalty{Score: c.ScoreAt(st, now), Multiplier: 1, Strike: st.Strike, Started: started, At: time.UnixMicro(now)}
	if st.Until > now {
		p.Active, p.Banned, p.Until = true, st.Banned, time.UnixMicro(st.Until)
		p.Multiplier = c.Multiplier
		if st.Banned {
			p.Multiplier = 0
		}
	}
	return p
}

// Notice kinds of penalties. Attrs: key, and until (RFC 3339) for starts.
const (
	// NoticePenaltyStart: a key's score reached the threshold; its limits
	// are reduced until the penalty ends. Attrs also carry strike.
	NoticePenaltyStart NoticeKind = "penalty_start"
	// NoticePenaltyEnd: a penalty or ban was lifted early (Unban). A
	// penalty that runs out is not reported: nothing happens then.
	NoticePenaltyEnd NoticeKind = "penalty_end"
	// NoticeBan: a key was banned.
	NoticeBan NoticeKind = "ban"
)

func reportPenalty(ctx context.Context, tel Telemetry, kind NoticeKind, key []byte, p *Penalty) {
	attrs := []slog.Attr{slog.String("key", string(key))}
	msg := "penalty lifted for " + string(key)
	switch kind {
	case NoticePenaltyStart:
		attrs = append(attrs, slog.String("until", p.Until.UTC().Format(time.RFC3339)), slog.Int64("strike", p.Strike))
		msg = "penalty started for " + string(key)
	case NoticeBan:
		attrs = append(attrs, slog.String("until", p.Until.UTC().Format(time.RFC3339)))
		msg = "banned " + string(key)
	}
	tel.OnNotice(ctx, Notice{Kind: kind, Message: msg, Level: slog.LevelWarn, Attrs: attrs})
}

// PenaltyManager records violations and bans for identifiers on any store
// that implements [PenaltyStore] (the memory and Redis stores do). It is
// safe for concurrent use.
type PenaltyManager struct {
	store PenaltyStore
	cfg   PenaltyConfig
	mcfg  managerConfig
}

// NewPenaltyManager returns a manager applying cfg through store.
func NewPenaltyManager(store Store, cfg PenaltyConfig, opts ...ManagerOption) (*PenaltyManager, error) {
	if isNil(store) {
		return nil, errors.New("halt: NewPenaltyManager: store must not be nil")
	}
	ps, ok := store.(PenaltyStore)
	if !ok {
		return nil, fmt.Errorf("%w: %s keeps no penalties (halt.PenaltyStore)", ErrUnsupported, storeName(store))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &PenaltyManager{store: ps, cfg: cfg, mcfg: newManagerConfig(opts)}, nil
}

// PenaltyKey is the store key of id's penalty state: "halt:penalty:{<id>}".
func PenaltyKey(id string) []byte { return penaltyKey(nil, []byte(escapeKeyPart(id))) }

func penaltyKey(dst, client []byte) []byte {
	return append(append(append(dst, "halt:penalty:{"...), client...), '}')
}

func (m *PenaltyManager) do(ctx context.Context, key []byte, kind PenaltyOpKind, severity float64, d time.Duration) (Penalty, error) {
	return doPenalty(ctx, m.store, &m.cfg, m.mcfg.tel, key, kind, severity, d, m.mcfg.clock.Now())
}

func doPenalty(ctx context.Context, ps PenaltyStore, cfg *PenaltyConfig, tel Telemetry, key []byte, kind PenaltyOpKind,
	severity float64, d time.Duration, now time.Time) (Penalty, error) {
	if math.IsNaN(severity) || severity < 0 || math.IsInf(severity, 0) {
		return Penalty{}, fmt.Errorf("%w: severity %v", ErrInvalidAmount, severity)
	}
	if d < 0 {
		return Penalty{}, fmt.Errorf("%w: ban duration %v", ErrInvalidAmount, d)
	}
	op := PenaltyOp{Kind: kind, Config: cfg, Severity: severity, Duration: d, Now: now}
	st, at, started, err := ps.Penalty(ctx, key, &op)
	if err != nil {
		return Penalty{}, err
	}
	p := penaltyOf(cfg, &st, at, started)
	switch {
	case started && kind == PenaltyBan:
		reportPenalty(ctx, tel, NoticeBan, key, &p)
	case started:
		reportPenalty(ctx, tel, NoticePenaltyStart, key, &p)
	case kind == PenaltyUnban:
		reportPenalty(ctx, tel, NoticePenaltyEnd, key, &p)
	}
	return p, nil
}

// RecordViolation adds severity to id's abuse score and starts a penalty
// when the score reaches the threshold.
func (m *PenaltyManager) RecordViolation(ctx context.Context, id string, severity float64) (Penalty, error) {
	return m.do(ctx, PenaltyKey(id), PenaltyRecord, severity, 0)
}

// Status is id's standing, unchanged.
func (m *PenaltyManager) Status(ctx context.Context, id string) (Penalty, error) {
	return m.do(ctx, PenaltyKey(id), PenaltyRead, 0, 0)
}

// Ban bans id for d (0: for good): a limiter with penalties rejects every
// request of it.
func (m *PenaltyManager) Ban(ctx context.Context, id string, d time.Duration) (Penalty, error) {
	return m.do(ctx, PenaltyKey(id), PenaltyBan, 0, d)
}

// Unban lifts id's ban or penalty and clears its score; the escalation
// still remembers the penalty.
func (m *PenaltyManager) Unban(ctx context.Context, id string) (Penalty, error) {
	return m.do(ctx, PenaltyKey(id), PenaltyUnban, 0, 0)
}
