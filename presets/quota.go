package presets

import (
	"time"

	halt "github.com/halt-go/halt/core"
)

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

// LenientPenalty penalizes after an abuse score of 20, for 30 minutes, at
// three quarters of the limits; the score decays 2 points an hour.
func LenientPenalty() halt.PenaltyConfig {
	return halt.PenaltyConfig{Threshold: 20, Duration: 30 * time.Minute, Multiplier: 0.75, DecayRate: 2}
}

// ModeratePenalty penalizes after a score of 10, for an hour, at half the
// limits; the score decays 1 point an hour.
func ModeratePenalty() halt.PenaltyConfig {
	return halt.PenaltyConfig{Threshold: 10, Duration: time.Hour, Multiplier: 0.5, DecayRate: 1}
}

// StrictPenalty penalizes after a score of 5, for 2 hours, at a quarter
// of the limits; the score decays half a point an hour.
func StrictPenalty() halt.PenaltyConfig {
	return halt.PenaltyConfig{Threshold: 5, Duration: 2 * time.Hour, Multiplier: 0.25, DecayRate: 0.5}
}
