package presets

import halt "github.com/halt-go/halt/core"

// FreeMonthly is the free plan's quota: 10,000 requests per calendar
// month (UTC).
func FreeMonthly() halt.Quota {
	return halt.Quota{Name: "free_monthly", Limit: 10_000, Period: halt.Monthly, Plan: "free"}
}

// ProMonthly is the pro plan's quota: 100,000 requests per calendar month
// (UTC).
func ProMonthly() halt.Quota {
	return halt.Quota{Name: "pro_monthly", Limit: 100_000, Period: halt.Monthly, Plan: "pro"}
}

// EnterpriseMonthly is the enterprise plan's quota: 1,000,000 requests per
// calendar month (UTC).
func EnterpriseMonthly() halt.Quota {
	return halt.Quota{Name: "enterprise_monthly", Limit: 1_000_000, Period: halt.Monthly, Plan: "enterprise"}
}

// FreeDaily is the free plan's daily quota: 500 requests per day (UTC).
func FreeDaily() halt.Quota {
	return halt.Quota{Name: "free_daily", Limit: 500, Period: halt.Daily, Plan: "free"}
}

// ProDaily is the pro plan's daily quota: 5,000 requests per day (UTC).
func ProDaily() halt.Quota {
	return halt.Quota{Name: "pro_daily", Limit: 5_000, Period: halt.Daily, Plan: "pro"}
}
