package halt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// QuotaPeriod is the calendar period a [Quota] counts over.
type QuotaPeriod uint8

const (
	// Hourly periods start on each hour of the quota's location.
	Hourly QuotaPeriod = iota + 1
	// Daily periods start at midnight in the quota's location; a day with a
	// daylight-saving change lasts 23 or 25 hours.
	Daily
	// Weekly periods start on Monday at midnight (ISO 8601 weeks).
	Weekly
	// Monthly periods are calendar months (January 31, then February 1), or
	// start on the quota's BillingDay of each month.
	Monthly
	// Yearly periods start on January 1.
	Yearly
)

// String returns the period's name as used in configuration.
func (p QuotaPeriod) String() string {
	switch p {
	case Hourly:
		return "hourly"
	case Daily:
		return "daily"
	case Weekly:
		return "weekly"
	case Monthly:
		return "monthly"
	case Yearly:
		return "yearly"
	}
	return fmt.Sprintf("QuotaPeriod(%d)", uint8(p))
}

// Quota is a budget per calendar period, such as 10,000 requests a month.
// Unlike a rate limit it does not refill gradually: the whole period's
// Limit is available when the period starts, and what is used stays used
// until it ends. Like a [Policy] it is plain data; the zero value is not
// valid ([Quota.Validate] says why).
type Quota struct {
	// Name namespaces the quota's counters, as Policy.Name does. Required;
	// printable ASCII, at most 64 bytes.
	Name string
	// Limit is how much the quota grants per period.
	Limit int64
	// Period is the calendar period.
	Period QuotaPeriod
	// Location is the time zone the calendar is read in; nil is UTC.
	Location *time.Location
	// BillingDay anchors a Monthly quota on a day of the month (1 to 31): a
	// period runs from that day to the same day of the next month, at
	// midnight. Months shorter than the day start their period on their last
	// day (an anchor of 31 starts February's period on the 28th or 29th).
	// Zero is the 1st: calendar months. Other periods reject a BillingDay.
	BillingDay int
	// Plan is an optional label, such as the plan name of a preset.
	Plan string
	// KeyStrategy and KeyFunc say what a limiter counts the quota against
	// (see [WithQuotas]), as for a Policy; the default is KeyIP. A
	// QuotaManager is given its identifiers and ignores them.
	KeyStrategy KeyStrategy
	KeyFunc     func(Request) (string, bool)
}

func (q *Quota) location() *time.Location {
	if q.Location == nil {
		return time.UTC
	}
	return q.Location
}

// Validate reports the first invalid field as a *PolicyError, or nil.
func (q *Quota) Validate() error {
	bad := func(field, reason string, args ...any) error {
		return &PolicyError{Policy: q.Name, Field: field, Reason: fmt.Sprintf(reason, args...)}
	}
	switch {
	case q.Name == "":
		return bad("Name", "must not be empty: the name namespaces the quota's counters")
	case len(q.Name) > 64:
		return bad("Name", "must be at most 64 bytes, got %d", len(q.Name))
	case !printableASCII(q.Name):
		return bad("Name", "must be printable ASCII")
	case q.Limit <= 0:
		return bad("Limit", "must be positive, got %d", q.Limit)
	case q.Limit > maxLimit:
		return bad("Limit", "must be at most %d, got %d", int64(maxLimit), q.Limit)
	case q.Period < Hourly || q.Period > Yearly:
		return bad("Period", "must be Hourly, Daily, Weekly, Monthly or Yearly, got %d", uint8(q.Period))
	case q.BillingDay < 0 || q.BillingDay > 31:
		return bad("BillingDay", "must be between 1 and 31 (0: the 1st), got %d", q.BillingDay)
	case q.BillingDay > 1 && q.Period != Monthly:
		return bad("BillingDay", "only a Monthly quota has a billing day, not a %s one", q.Period)
	}
	return nil
}

// PeriodAt returns the period containing t: [start, end), both in the
// quota's location. The quota must be valid.
func (q *Quota) PeriodAt(t time.Time) (start, end time.Time) {
	loc := q.location()
	lt := t.In(loc)
	y, m, d := lt.Date()
	switch q.Period {
	case Hourly:
		// The local hour: an hour that repeats when the clocks go back is
		// two periods, and a zone half an hour off UTC starts them at :00
		// local time.
		start = lt.Add(-time.Duration(lt.Minute())*time.Minute - time.Duration(lt.Second())*time.Second -
			time.Duration(lt.Nanosecond()))
		return start, start.Add(time.Hour)
	case Daily:
		return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	case Weekly:
		back := (int(lt.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, loc), time.Date(y, m, d-back+7, 0, 0, 0, 0, loc)
	case Yearly:
		return time.Date(y, 1, 1, 0, 0, 0, 0, loc), time.Date(y+1, 1, 1, 0, 0, 0, 0, loc)
	}
	day := max(1, q.BillingDay)
	start = billingStart(y, m, day, loc)
	if lt.Before(start) {
		return billingStart(y, m-1, day, loc), start
	}
	return start, billingStart(y, m+1, day, loc)
}

// billingStart is midnight of day in month m of year y (normalized), or of
// the month's last day when it is shorter.
func billingStart(y int, m time.Month, day int, loc *time.Location) time.Time {
	first := time.Date(y, m, 1, 0, 0, 0, 0, loc)
	y, m, _ = first.Date()
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, loc).Day()
	return time.Date(y, m, min(day, last), 0, 0, 0, 0, loc)
}

// QuotaBounds returns four consecutive period boundaries around t, in Unix
// seconds: the previous period [b0, b1), the current one [b1, b2) and the
// next [b2, b3). A store with its own clock picks among the three the one
// that holds its time, so app servers whose clocks disagree by less than a
// period agree on it.
func (q *Quota) QuotaBounds(t time.Time) [4]int64 {
	s, e := q.PeriodAt(t)
	s0, _ := q.PeriodAt(s.Add(-time.Nanosecond))
	_, e2 := q.PeriodAt(e)
	return [4]int64{s0.Unix(), s.Unix(), e.Unix(), e2.Unix()}
}

// QuotaOpKind is what a [QuotaOp] asks of a store.
type QuotaOpKind uint8

const (
	// QuotaPeek reports whether Amount fits and changes nothing.
	QuotaPeek QuotaOpKind = iota
	// QuotaConsume adds Amount to the period's use if it fits (Used+Amount
	// at most Limit plus what was granted), else changes nothing.
	QuotaConsume
	// QuotaRefund takes Amount back from the period's use, never below 0.
	QuotaRefund
	// QuotaGrant adds Amount to the period's allowance (the grant ends
	// with the period).
	QuotaGrant
	// QuotaReset forgets the key: use and grants.
	QuotaReset
)

// QuotaOp is one quota operation on one key, for a [QuotaStore].
type QuotaOp struct {
	Kind   QuotaOpKind
	Limit  int64 // the quota's limit per period
	Amount int64 // the cost, refund or grant (positive; unused by QuotaReset)
	// Now is the caller's instant; a store with a clock of its own uses
	// that instead (see Bounds).
	Now time.Time
	// Bounds are [Quota.QuotaBounds] of Now: the store decides in the
	// period among the three that holds its instant (the first one for an
	// instant before it, the last one for an instant after it). A period
	// ends at its next boundary.
	Bounds [4]int64
}

// QuotaResult is a store's answer to a [QuotaOp]: the key's standing
// after it.
type QuotaResult struct {
	// Allowed reports, for QuotaPeek and QuotaConsume, whether Amount fit
	// (for QuotaConsume: was consumed); true for the other kinds.
	Allowed bool
	Used    int64 // consumed in the period
	Extra   int64 // granted for the period beyond the limit
	Start   int64 // the period's first instant, Unix seconds
	End     int64 // the period's end (the next one's start), Unix seconds
	// Now is the instant the store decided at, Unix microseconds.
	Now int64
}

// QuotaStore is a store that keeps calendar quotas: each operation on a
// key is atomic (a consume never overshoots, whatever the concurrency,
// across every process sharing the store), and state from an earlier
// period counts as none. The keys have the limiter's layout,
// "halt:<quota>:{<client>}".
type QuotaStore interface {
	Quota(ctx context.Context, key []byte, op *QuotaOp) (QuotaResult, error)
}

// QuotaStatus is a key's standing under a quota.
type QuotaStatus struct {
	// Allowed reports whether the cost asked for fit (for Consume: was
	// consumed).
	Allowed bool
	// Quota is the quota's name.
	Quota string
	// Limit is what the period grants: the quota's limit plus grants.
	Limit int64
	// Used is what the period has consumed.
	Used int64
	// Remaining is Limit minus Used, never negative.
	Remaining int64
	// Granted is the part of Limit granted beyond the quota's limit.
	Granted int64
	// PeriodStart is the first instant of the period.
	PeriodStart time.Time
	// ResetsAt is the end of the period, when Used goes back to 0.
	ResetsAt time.Time
	// At is the instant of the answer by the store's clock.
	At time.Time
}

// RetryAfter is zero when allowed, else the time until the period ends.
func (s *QuotaStatus) RetryAfter() time.Duration {
	if s.Allowed {
		return 0
	}
	return max(0, s.ResetsAt.Sub(s.At))
}

func quotaStatus(q *Quota, r QuotaResult) QuotaStatus {
	loc := q.location()
	limit := q.Limit + r.Extra
	return QuotaStatus{
		Allowed:     r.Allowed,
		Quota:       q.Name,
		Limit:       limit,
		Used:        r.Used,
		Remaining:   max(0, limit-r.Used),
		Granted:     r.Extra,
		PeriodStart: time.Unix(r.Start, 0).In(loc),
		ResetsAt:    time.Unix(r.End, 0).In(loc),
		At:          time.UnixMicro(r.Now).In(loc),
	}
}

// ManagerOption configures a [QuotaManager] or a [PenaltyManager].
type ManagerOption func(*managerConfig)

type managerConfig struct {
	clock Clock
	tel   Telemetry
}

// ManagerClock sets the manager's clock (the default is [SystemClock]); a
// store with its own clock, such as Redis by default, decides by that.
func ManagerClock(c Clock) ManagerOption {
	return func(m *managerConfig) {
		if !isNil(c) {
			m.clock = c
		}
	}
}

// ManagerTelemetry sets where the manager reports its notices (quota
// exhaustion, penalties, bans). The default reports nothing.
func ManagerTelemetry(sinks ...Telemetry) ManagerOption {
	return func(m *managerConfig) { m.tel = Telemetries(sinks...) }
}

func newManagerConfig(opts []ManagerOption) managerConfig {
	cfg := managerConfig{clock: SystemClock, tel: NopTelemetry{}}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return cfg
}

// NoticeQuotaExhausted is reported when a consume took the last of a key's quota for the
// period (reported once per key and period, by that consume). Attrs:
// quota, key, resets_at.
const NoticeQuotaExhausted NoticeKind = "quota_exhausted"

// QuotaManager checks and consumes calendar quotas for identifiers (a user,
// an account, an API key), on any store that implements [QuotaStore]: the
// memory store and the Redis store do. It is safe for concurrent use.
type QuotaManager struct {
	store QuotaStore
	cfg   managerConfig
}

// ErrInvalidAmount is returned (wrapped) for a negative cost, grant,
// severity or ban duration.
var ErrInvalidAmount = errors.New("halt: amount must not be negative")

// NewQuotaManager returns a manager keeping quotas in store.
func NewQuotaManager(store Store, opts ...ManagerOption) (*QuotaManager, error) {
	if isNil(store) {
		return nil, errors.New("halt: NewQuotaManager: store must not be nil")
	}
	qs, ok := store.(QuotaStore)
	if !ok {
		return nil, fmt.Errorf("%w: %s keeps no quotas (halt.QuotaStore)", ErrUnsupported, storeName(store))
	}
	return &QuotaManager{store: qs, cfg: newManagerConfig(opts)}, nil
}

// QuotaKey is the store key of id under the quota named name:
// "halt:<name>:{<id>}", escaped as the limiter escapes its keys.
func QuotaKey(name, id string) []byte {
	b := append(appendEscaped([]byte("halt:"), name), ":{"...)
	return append(appendPart(b, id), '}')
}

func (m *QuotaManager) do(ctx context.Context, q *Quota, id string, kind QuotaOpKind, amount int64) (QuotaStatus, error) {
	if err := q.Validate(); err != nil {
		return QuotaStatus{}, err
	}
	if amount < 0 {
		return QuotaStatus{}, fmt.Errorf("%w: %d", ErrInvalidAmount, amount)
	}
	now := m.cfg.clock.Now()
	op := QuotaOp{Kind: kind, Limit: q.Limit, Amount: amount, Now: now, Bounds: q.QuotaBounds(now)}
	key := QuotaKey(q.Name, id)
	r, err := m.store.Quota(ctx, key, &op)
	if err != nil {
		return QuotaStatus{}, err
	}
	st := quotaStatus(q, r)
	if kind == QuotaConsume && st.exhaustedBy(amount) {
		reportExhausted(ctx, m.cfg.tel, q.Name, key, st.ResetsAt)
	}
	return st, nil
}

// exhaustedBy reports whether a consume of amount with this answer took
// the last of the quota.
func (s *QuotaStatus) exhaustedBy(amount int64) bool {
	return s.Allowed && amount > 0 && s.Remaining == 0
}

func reportExhausted(ctx context.Context, tel Telemetry, name string, key []byte, resets time.Time) {
	at := resets.UTC().Format(time.RFC3339)
	tel.OnNotice(ctx, Notice{Kind: NoticeQuotaExhausted, Message: "quota " + name + " used up until " + at,
		Level: slog.LevelInfo, Attrs: []slog.Attr{slog.String("quota", name), slog.String("key", string(key)), slog.String("resets_at", at)}})
}

func costOrOne(c int64) int64 {
	if c == 0 {
		return 1
	}
	return c
}

// Check reports whether cost (0: 1) would fit id's quota now, without
// consuming anything.
func (m *QuotaManager) Check(ctx context.Context, q Quota, id string, cost int64) (QuotaStatus, error) {
	return m.do(ctx, &q, id, QuotaPeek, costOrOne(cost))
}

// Consume takes cost (0: 1) from id's quota if it fits, atomically: two
// callers can never both take the last of it. When it does not fit,
// nothing is taken and Allowed is false.
func (m *QuotaManager) Consume(ctx context.Context, q Quota, id string, cost int64) (QuotaStatus, error) {
	return m.do(ctx, &q, id, QuotaConsume, costOrOne(cost))
}

// Status is id's standing under q; Allowed reports whether one more unit
// fits. It consumes nothing.
func (m *QuotaManager) Status(ctx context.Context, q Quota, id string) (QuotaStatus, error) {
	return m.do(ctx, &q, id, QuotaPeek, 1)
}

// Refund gives amount back to id's quota for the current period (what a
// request consumed and should not have), never below zero use.
func (m *QuotaManager) Refund(ctx context.Context, q Quota, id string, amount int64) (QuotaStatus, error) {
	return m.do(ctx, &q, id, QuotaRefund, amount)
}

// Grant adds amount to id's allowance for the current period only (a
// top-up, a goodwill credit): the next period starts from q.Limit again.
func (m *QuotaManager) Grant(ctx context.Context, q Quota, id string, amount int64) (QuotaStatus, error) {
	return m.do(ctx, &q, id, QuotaGrant, amount)
}

// Reset forgets id's use and grants under q: it starts the period afresh.
func (m *QuotaManager) Reset(ctx context.Context, q Quota, id string) error {
	_, err := m.do(ctx, &q, id, QuotaReset, 0)
	return err
}

// QuotaState is what a store keeps per quota key.
type QuotaState struct {
	Start int64 // the period counted, Unix seconds (0: none)
	Used  int64
	Extra int64
}

// Period returns the period among op.Bounds holding now (Unix
// microseconds): its start and end in Unix seconds.
func (op *QuotaOp) Period(now int64) (start, end int64) {
	b := &op.Bounds
	switch {
	case now >= b[2]*1e6:
		return b[2], b[3]
	case now >= b[1]*1e6:
		return b[1], b[2]
	}
	return b[0], b[1]
}

// Apply runs op on s at now (Unix microseconds, the store's clock), as
// every QuotaStore must: state of another period counts as none, and
// nothing is consumed beyond the limit plus grants. It reports whether s
// changed (and must be written, to be kept until the period's end); a
// QuotaReset is left to the store (it deletes the key).
func (op *QuotaOp) Apply(s *QuotaState, now int64) (r QuotaResult, changed bool) {
	start, end := op.Period(now)
	if s.Start != start {
		*s = QuotaState{Start: start}
	}
	r = QuotaResult{Allowed: true, Start: start, End: end, Now: now}
	switch op.Kind {
	case QuotaPeek, QuotaConsume:
		if s.Used+op.Amount > op.Limit+s.Extra {
			r.Allowed = false
		} else if op.Kind == QuotaConsume {
			s.Used += op.Amount
			changed = true
		}
	case QuotaRefund:
		s.Used = max(0, s.Used-op.Amount)
		changed = true
	case QuotaGrant:
		s.Extra += op.Amount
		changed = true
	case QuotaReset:
		*s = QuotaState{Start: start}
	}
	r.Used, r.Extra = s.Used, s.Extra
	return r, changed
}
