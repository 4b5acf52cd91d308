package haltotel

import (
	"math"
	"slices"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// DefaultBuckets are the bucket boundaries, in seconds, of
// halt.store.duration unless replaced with [WithBuckets]: from 10µs (an
// in-process store) to 250ms (a remote store in trouble). OpenTelemetry's
// own defaults suit milliseconds, not seconds.
var DefaultBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
}

// DefaultMaxPolicies is how many distinct policy names halt.requests
// carries, unless changed with [WithMaxPolicies].
const DefaultMaxPolicies = 1000

// OtherPolicy is the policy attribute of requests decided under policies
// beyond the maximum of [WithMaxPolicies].
const OtherPolicy = "_other"

// Option configures [New].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (o optionFunc) apply(c *config) { o(c) }

type config struct {
	provider    metric.MeterProvider
	buckets     []float64
	maxPolicies int
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.provider == nil {
		c.provider = otel.GetMeterProvider()
	}
	if c.buckets == nil {
		c.buckets = DefaultBuckets
	}
	if c.maxPolicies <= 0 {
		c.maxPolicies = DefaultMaxPolicies
	}
	return c
}

// WithMeterProvider sets the meter provider the instruments are created
// with. If none is specified (or it is nil), the global provider is used.
func WithMeterProvider(provider metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if provider != nil {
			c.provider = provider
		}
	})
}

// WithBuckets sets the bucket boundaries, in seconds, that
// halt.store.duration advises (a View may still override them), in any
// order; nil or empty keeps [DefaultBuckets].
func WithBuckets(bounds []float64) Option {
	return optionFunc(func(c *config) {
		b := slices.DeleteFunc(slices.Clone(bounds), func(b float64) bool { return math.IsNaN(b) || math.IsInf(b, 0) })
		slices.Sort(b)
		if b = slices.Compact(b); len(b) > 0 {
			c.buckets = b
		}
	})
}

// WithMaxPolicies bounds how many distinct policy names halt.requests
// carries (a policy resolver that mints a policy per tenant could
// otherwise grow it without end): requests under names beyond the first n
// seen are counted under policy [OtherPolicy]. Zero or less keeps the
// current value ([DefaultMaxPolicies] by default).
func WithMaxPolicies(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxPolicies = n
		}
	})
}
