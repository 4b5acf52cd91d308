package halt_test

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // the table's zones, whatever the machine has

	halt "github.com/halt-go/halt/core"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestQuotaPeriodAt(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	berlin := mustZone(t, "Europe/Berlin")
	kolkata := mustZone(t, "Asia/Kolkata")
	tokyo := mustZone(t, "Asia/Tokyo")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name       string
		q          halt.Quota
		at         string
		start, end string
		hours      int // the period's length, 0: not checked
	}{
		{"monthly: January 31 is January", halt.Quota{Period: halt.Monthly}, "2027-01-31T23:59:59Z", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z", 31 * 24},
		{"monthly: then February 1", halt.Quota{Period: halt.Monthly}, "2027-02-01T00:00:00Z", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z", 28 * 24},
		{"monthly: leap day", halt.Quota{Period: halt.Monthly}, "2028-02-29T12:00:00Z", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z", 29 * 24},
		{"monthly: December into January", halt.Quota{Period: halt.Monthly}, "2026-12-31T08:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", 31 * 24},
		{"monthly in Berlin: 23:30 UTC on Jan 31 is February there", halt.Quota{Period: halt.Monthly, Location: berlin}, "2026-01-31T23:30:00Z", "2026-01-31T23:00:00Z", "2026-02-28T23:00:00Z", 0},
		{"monthly in New York over the DST start", halt.Quota{Period: halt.Monthly, Location: ny}, "2026-03-15T12:00:00Z", "2026-03-01T05:00:00Z", "2026-04-01T04:00:00Z", 31*24 - 1},
		{"billing 29, non-leap February: before the 28th", halt.Quota{Period: halt.Monthly, BillingDay: 29}, "2027-02-27T10:00:00Z", "2027-01-29T00:00:00Z", "2027-02-28T00:00:00Z", 30 * 24},
		{"billing 29, non-leap February: from the 28th", halt.Quota{Period: halt.Monthly, BillingDay: 29}, "2027-02-28T10:00:00Z", "2027-02-28T00:00:00Z", "2027-03-29T00:00:00Z", 29 * 24},
		{"billing 29, leap February", halt.Quota{Period: halt.Monthly, BillingDay: 29}, "2028-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2028-03-29T00:00:00Z", 29 * 24},
		{"billing 30, February ends on the 28th", halt.Quota{Period: halt.Monthly, BillingDay: 30}, "2027-03-01T00:00:00Z", "2027-02-28T00:00:00Z", "2027-03-30T00:00:00Z", 30 * 24},
		{"billing 31 in a 30-day month", halt.Quota{Period: halt.Monthly, BillingDay: 31}, "2026-04-30T00:00:00Z", "2026-04-30T00:00:00Z", "2026-05-31T00:00:00Z", 31 * 24},
		{"billing 31, the day before", halt.Quota{Period: halt.Monthly, BillingDay: 31}, "2026-04-29T23:59:59Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z", 30 * 24},
		{"billing 31, leap February", halt.Quota{Period: halt.Monthly, BillingDay: 31}, "2028-02-28T12:00:00Z", "2028-01-31T00:00:00Z", "2028-02-29T00:00:00Z", 29 * 24},
		{"billing 31, leap day to March 31", halt.Quota{Period: halt.Monthly, BillingDay: 31}, "2028-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z", 31 * 24},
		{"billing 1 is the calendar month", halt.Quota{Period: halt.Monthly, BillingDay: 1}, "2027-02-01T00:00:00Z", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z", 28 * 24},
		{"billing 15 in Tokyo", halt.Quota{Period: halt.Monthly, BillingDay: 15, Location: tokyo}, "2026-06-14T15:00:00Z", "2026-06-14T15:00:00Z", "2026-07-14T15:00:00Z", 30 * 24},
		{"daily UTC", halt.Quota{Period: halt.Daily}, "2026-12-02T10:11:12Z", "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z", 24},
		{"daily: DST starts in New York, a 23-hour day", halt.Quota{Period: halt.Daily, Location: ny}, "2026-03-08T12:00:00Z", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z", 23},
		{"daily: DST ends in New York, a 25-hour day", halt.Quota{Period: halt.Daily, Location: ny}, "2026-11-01T12:00:00Z", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z", 25},
		{"daily in Kolkata", halt.Quota{Period: halt.Daily, Location: kolkata}, "2026-12-01T18:29:59Z", "2026-11-30T18:30:00Z", "2026-12-01T18:30:00Z", 24},
		{"hourly: the first 1 a.m. of the DST end", halt.Quota{Period: halt.Hourly, Location: ny}, "2026-11-01T05:30:00Z", "2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", 1},
		{"hourly: the repeated 1 a.m. is a period of its own", halt.Quota{Period: halt.Hourly, Location: ny}, "2026-11-01T06:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z", 1},
		{"hourly on a half-hour zone", halt.Quota{Period: halt.Hourly, Location: kolkata}, "2026-12-02T04:40:00Z", "2026-12-02T04:30:00Z", "2026-12-02T05:30:00Z", 1},
		{"weekly: Wednesday to Monday", halt.Quota{Period: halt.Weekly}, "2026-12-02T10:00:00Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z", 7 * 24},
		{"weekly: Sunday night is the same week", halt.Quota{Period: halt.Weekly}, "2026-12-06T23:59:59Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z", 7 * 24},
		{"weekly: Monday starts the next", halt.Quota{Period: halt.Weekly}, "2026-12-07T00:00:00Z", "2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z", 7 * 24},
		{"weekly over Berlin's DST start", halt.Quota{Period: halt.Weekly, Location: berlin}, "2026-03-25T12:00:00Z", "2026-03-22T23:00:00Z", "2026-03-29T22:00:00Z", 7*24 - 1},
		{"yearly in Tokyo", halt.Quota{Period: halt.Yearly, Location: tokyo}, "2028-12-31T14:59:59Z", "2027-12-31T15:00:00Z", "2028-12-31T15:00:00Z", 366 * 24},
		{"yearly: the next", halt.Quota{Period: halt.Yearly, Location: tokyo}, "2028-12-31T15:00:00Z", "2028-12-31T15:00:00Z", "2029-12-31T15:00:00Z", 365 * 24},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.Name, c.q.Limit = "q", 1
			if err := c.q.Validate(); err != nil {
				t.Fatal(err)
			}
			s, e := c.q.PeriodAt(utc(c.at))
			if !s.Equal(utc(c.start)) || !e.Equal(utc(c.end)) {
				t.Fatalf("PeriodAt(%s) = [%s, %s), want [%s, %s)", c.at, s.UTC().Format(time.RFC3339), e.UTC().Format(time.RFC3339), c.start, c.end)
			}
			if c.hours != 0 && e.Sub(s) != time.Duration(c.hours)*time.Hour {
				t.Fatalf("period lasts %v, want %dh", e.Sub(s), c.hours)
			}
			if loc := c.q.Location; loc != nil && s.Location() != loc {
				t.Fatalf("start in %v, want %v", s.Location(), loc)
			}
			// The boundaries chain: the previous period ends where this one
			// starts, the next starts where it ends.
			b := c.q.QuotaBounds(utc(c.at))
			ps, pe := c.q.PeriodAt(time.Unix(b[0], 0))
			ns, ne := c.q.PeriodAt(time.Unix(b[2], 0))
			if b[1] != s.Unix() || b[2] != e.Unix() || ps.Unix() != b[0] || pe.Unix() != b[1] || ns.Unix() != b[2] || ne.Unix() != b[3] {
				t.Fatalf("bounds %v do not chain around [%v, %v)", b, s, e)
			}
		})
	}
}

func TestQuotaValidate(t *testing.T) {
	good := halt.Quota{Name: "api_calls", Limit: 100, Period: halt.Monthly}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field string
		edit  func(q *halt.Quota)
	}{
		{"Name", func(q *halt.Quota) { q.Name = "" }},
		{"Name", func(q *halt.Quota) { q.Name = "bad\nname" }},
		{"Limit", func(q *halt.Quota) { q.Limit = 0 }},
		{"Limit", func(q *halt.Quota) { q.Limit = 1 << 41 }},
		{"Period", func(q *halt.Quota) { q.Period = 0 }},
		{"Period", func(q *halt.Quota) { q.Period = halt.Yearly + 1 }},
		{"BillingDay", func(q *halt.Quota) { q.BillingDay = 32 }},
		{"BillingDay", func(q *halt.Quota) { q.BillingDay = -1 }},
		{"BillingDay", func(q *halt.Quota) { q.Period, q.BillingDay = halt.Daily, 15 }},
	} {
		q := good
		c.edit(&q)
		var pe *halt.PolicyError
		if err := q.Validate(); !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("%+v: Validate() = %v, want a %s error", q, err, c.field)
		}
	}
}

func TestQuotaKeyEscapes(t *testing.T) {
	if got, want := string(halt.QuotaKey("api_calls", "user{1}%")), "halt:api_calls:{user%7B1%7D%25}"; got != want {
		t.Fatalf("QuotaKey = %q, want %q", got, want)
	}
}
