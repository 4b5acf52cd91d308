package presets_test

import (
	"strings"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/presets"
)

func TestPresetValues(t *testing.T) {
	cases := []struct {
		p                  halt.Policy
		name               string
		limit, burst, cost int64
		window, block      time.Duration
		key                halt.KeyStrategy
	}{
		{presets.PublicAPI(), "public_api", 100, 120, 0, time.Minute, 0, halt.KeyIP},
		{presets.AuthEndpoints(), "auth_endpoints", 5, 10, 0, time.Minute, 5 * time.Minute, halt.KeyIP},
		{presets.ExpensiveOps(), "expensive_ops", 10, 15, 10, time.Hour, 0, halt.KeyUser},
		{presets.StrictAPI(), "strict_api", 20, 25, 0, time.Minute, 0, halt.KeyAPIKey},
		{presets.GenerousAPI(), "generous_api", 1000, 1200, 0, time.Minute, 0, halt.KeyIP},
		{presets.PlanFree(), "free_plan", 100, 120, 0, time.Hour, 0, halt.KeyUser},
		{presets.PlanStarter(), "starter_plan", 500, 600, 0, time.Hour, 0, halt.KeyUser},
		{presets.PlanPro(), "pro_plan", 2000, 2500, 0, time.Hour, 0, halt.KeyUser},
		{presets.PlanBusiness(), "business_plan", 5000, 6000, 0, time.Hour, 0, halt.KeyUser},
		{presets.PlanEnterprise(), "enterprise_plan", 20000, 25000, 0, time.Hour, 0, halt.KeyUser},
	}
	for _, c := range cases {
		p := c.p
		if p.Name != c.name || p.Limit != c.limit || p.Burst != c.burst || p.Cost != c.cost ||
			p.Window != c.window || p.BlockDuration != c.block || p.KeyStrategy != c.key || p.Algorithm != halt.TokenBucket {
			t.Errorf("%s: got %+v", c.name, p)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestPresetsCannotBeCorrupted(t *testing.T) {
	p := presets.PublicAPI()
	p.Limit = 1
	p.Exemptions = append(p.Exemptions, "/x")
	if q := presets.PublicAPI(); q.Limit != 100 || len(q.Exemptions) != 0 {
		t.Fatalf("a caller's change leaked into the preset: %+v", q)
	}
}

func TestPlanPolicy(t *testing.T) {
	for _, name := range []string{"free", "FREE", " Pro ", "starter", "Business", "enterprise"} {
		p, err := presets.PlanPolicy(name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if !strings.EqualFold(p.Plan, strings.TrimSpace(name)) {
			t.Fatalf("%q: got plan %q", name, p.Plan)
		}
	}
	_, err := presets.PlanPolicy("platinum")
	want := `presets: unknown plan "platinum" (valid plans: free, starter, pro, business, enterprise)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}
