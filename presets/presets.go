// Package presets holds Halt's ready-made policies, with the values of the
// Halt Python SDK. Each preset is a function returning a fresh [halt.Policy]
// value: adjust your copy freely, nobody else sees the change.
//
//	l, err := halt.New(memory.New(nil), presets.PublicAPI())
package presets

import (
	"fmt"
	"sort"
	"strings"
	"time"

	halt "github.com/halt-go/halt/core"
)

// PublicAPI is for public endpoints: 100 requests per minute per client IP,
// bursts of 120.
func PublicAPI() halt.Policy {
	return halt.Policy{Name: "public_api", Limit: 100, Window: time.Minute, Burst: 120, KeyStrategy: halt.KeyIP}
}

// AuthEndpoints is for login and similar endpoints: 5 requests per minute
// per client IP, bursts of 10, and a 5-minute cooldown once blocked.
func AuthEndpoints() halt.Policy {
	return halt.Policy{Name: "auth_endpoints", Limit: 5, Window: time.Minute, Burst: 10,
		KeyStrategy: halt.KeyIP, BlockDuration: 5 * time.Minute}
}

// ExpensiveOps is for resource-heavy endpoints: 10 tokens per hour per user,
// bursts of 15, each request costing 10.
func ExpensiveOps() halt.Policy {
	return halt.Policy{Name: "expensive_ops", Limit: 10, Window: time.Hour, Burst: 15, Cost: 10,
		KeyStrategy: halt.KeyUser}
}

// StrictAPI is for sensitive operations: 20 requests per minute per API
// key, bursts of 25.
func StrictAPI() halt.Policy {
	return halt.Policy{Name: "strict_api", Limit: 20, Window: time.Minute, Burst: 25, KeyStrategy: halt.KeyAPIKey}
}

// GenerousAPI is for internal or trusted services: 1000 requests per minute
// per client IP, bursts of 1200.
func GenerousAPI() halt.Policy {
	return halt.Policy{Name: "generous_api", Limit: 1000, Window: time.Minute, Burst: 1200, KeyStrategy: halt.KeyIP}
}

func plan(name string, limit, burst int64) halt.Policy {
	return halt.Policy{Name: name + "_plan", Plan: name, Limit: limit, Window: time.Hour, Burst: burst,
		KeyStrategy: halt.KeyUser}
}

// PlanFree is the free tier: 100 requests per hour per user, bursts of 120.
func PlanFree() halt.Policy { return plan("free", 100, 120) }

// PlanStarter is the starter tier: 500 requests per hour per user, bursts
// of 600.
func PlanStarter() halt.Policy { return plan("starter", 500, 600) }

// PlanPro is the pro tier: 2000 requests per hour per user, bursts of 2500.
func PlanPro() halt.Policy { return plan("pro", 2000, 2500) }

// PlanBusiness is the business tier: 5000 requests per hour per user,
// bursts of 6000.
func PlanBusiness() halt.Policy { return plan("business", 5000, 6000) }

// PlanEnterprise is the enterprise tier: 20000 requests per hour per user,
// bursts of 25000.
func PlanEnterprise() halt.Policy { return plan("enterprise", 20000, 25000) }

var plans = map[string]func() halt.Policy{
	"free":       PlanFree,
	"starter":    PlanStarter,
	"pro":        PlanPro,
	"business":   PlanBusiness,
	"enterprise": PlanEnterprise,
}

// Plans returns the plan names PlanPolicy accepts, in order of size.
func Plans() []string {
	names := make([]string, 0, len(plans))
	for n := range plans {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return plans[names[i]]().Limit < plans[names[j]]().Limit })
	return names
}

// PlanPolicy returns the policy of a plan by name, case-insensitively
// ("pro", "Pro"). An unknown name is an error listing the valid ones.
func PlanPolicy(name string) (halt.Policy, error) {
	if f, ok := plans[strings.ToLower(strings.TrimSpace(name))]; ok {
		return f(), nil
	}
	return halt.Policy{}, fmt.Errorf("presets: unknown plan %q (valid plans: %s)", name, strings.Join(Plans(), ", "))
}
