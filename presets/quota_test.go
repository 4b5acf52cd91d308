package presets_test

import (
	"testing"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/presets"
)

func TestQuotaPresets(t *testing.T) {
	for _, c := range []struct {
		q      halt.Quota
		name   string
		limit  int64
		period halt.QuotaPeriod
	}{
		{presets.FreeMonthly(), "free_monthly", 10_000, halt.Monthly},
		{presets.ProMonthly(), "pro_monthly", 100_000, halt.Monthly},
		{presets.EnterpriseMonthly(), "enterprise_monthly", 1_000_000, halt.Monthly},
		{presets.FreeDaily(), "free_daily", 500, halt.Daily},
		{presets.ProDaily(), "pro_daily", 5_000, halt.Daily},
	} {
		if err := c.q.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.q.Name != c.name || c.q.Limit != c.limit || c.q.Period != c.period || c.q.Location != nil {
			t.Errorf("%s: got %+v, want %d per %s in UTC", c.name, c.q, c.limit, c.period)
		}
	}
}

func TestPenaltyPresets(t *testing.T) {
	for name, c := range map[string]struct {
		cfg                    halt.PenaltyConfig
		threshold, mult, decay float64
		minutes                int
	}{
		"lenient":  {presets.LenientPenalty(), 20, 0.75, 2, 30},
		"moderate": {presets.ModeratePenalty(), 10, 0.5, 1, 60},
		"strict":   {presets.StrictPenalty(), 5, 0.25, 0.5, 120},
	} {
		if err := c.cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if c.cfg.Threshold != c.threshold || c.cfg.Multiplier != c.mult || c.cfg.DecayRate != c.decay || c.cfg.Duration.Minutes() != float64(c.minutes) {
			t.Errorf("%s: %+v", name, c.cfg)
		}
	}
}
