package presets_test

import (
	"fmt"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/presets"
)

// A preset is a plain halt.Policy: read it, or adjust your own copy.
func Example() {
	p := presets.AuthEndpoints()
	fmt.Printf("%s: %d per %v, burst %d, by %s, cooldown %v\n", p.Name, p.Limit, p.Window, p.Burst, p.KeyStrategy, p.BlockDuration)

	p.Name, p.BlockDuration = "password_reset", 15*time.Minute // a copy: AuthEndpoints() is unchanged
	fmt.Printf("%s: cooldown %v; preset cooldown still %v\n", p.Name, p.BlockDuration, presets.AuthEndpoints().BlockDuration)
	// Output:
	// auth_endpoints: 5 per 1m0s, burst 10, by ip, cooldown 5m0s
	// password_reset: cooldown 15m0s; preset cooldown still 5m0s
}

// Plans by name, for a policy resolver that reads the plan from the
// request (halt.WithPolicyResolver).
func ExamplePlanPolicy() {
	for _, name := range []string{"free", "Pro", "gold"} {
		p, err := presets.PlanPolicy(name)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: %d per %v (burst %d) per %s\n", p.Plan, p.Limit, p.Window, p.Burst, p.KeyStrategy)
	}
	// Output:
	// free: 100 per 1h0m0s (burst 120) per user
	// pro: 2000 per 1h0m0s (burst 2500) per user
	// presets: unknown plan "gold" (valid plans: free, starter, pro, business, enterprise)
}

// Every preset is a valid policy.
func ExamplePublicAPI() {
	for _, p := range []halt.Policy{presets.PublicAPI(), presets.StrictAPI(), presets.GenerousAPI(), presets.ExpensiveOps()} {
		fmt.Printf("%-13s %4d per %-6v burst %4d, cost %d, by %s, valid: %v\n",
			p.Name, p.Limit, p.Window, p.Burst, p.RequestCost(), p.KeyStrategy, p.Validate() == nil)
	}
	// Output:
	// public_api     100 per 1m0s   burst  120, cost 1, by ip, valid: true
	// strict_api      20 per 1m0s   burst   25, cost 1, by api_key, valid: true
	// generous_api  1000 per 1m0s   burst 1200, cost 1, by ip, valid: true
	// expensive_ops   10 per 1h0m0s burst   15, cost 10, by user, valid: true
}
