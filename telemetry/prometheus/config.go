package haltprom

import (
	"maps"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBuckets are the bounds, in seconds, of halt_store_duration_seconds
// unless replaced with [WithBuckets]: from 10µs (an in-process store) to
// 250ms (a remote store in trouble).
var DefaultBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
}

// DefaultMaxPolicies is how many distinct policy names halt_requests_total
// labels, unless changed with [WithMaxPolicies].
const DefaultMaxPolicies = 1000

// OtherPolicy is the policy label of requests decided under policies beyond
// the maximum of [WithMaxPolicies].
const OtherPolicy = "_other"

// Option configures [New].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (o optionFunc) apply(c *config) { o(c) }

type config struct {
	namespace   string
	constLabels prometheus.Labels
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
	if c.buckets == nil {
		c.buckets = DefaultBuckets
	}
	if c.maxPolicies <= 0 {
		c.maxPolicies = DefaultMaxPolicies
	}
	return c
}

// WithNamespace prefixes every metric name with ns: with "shop", the
// request counter is shop_halt_requests_total. An empty ns keeps the
// names as they are (halt_requests_total).
func WithNamespace(ns string) Option {
	return optionFunc(func(c *config) { c.namespace = ns })
}

// WithConstLabels adds labels with fixed values to every metric (a
// service or region name). Several calls add up; nil adds nothing. The
// names policy, outcome, store and kind are taken by the metrics.
func WithConstLabels(labels prometheus.Labels) Option {
	return optionFunc(func(c *config) {
		if len(labels) == 0 {
			return
		}
		if c.constLabels == nil {
			c.constLabels = prometheus.Labels{}
		}
		maps.Copy(c.constLabels, labels)
	})
}

// WithBuckets sets the upper bounds, in seconds, of the store duration
// histogram's buckets, in any order (+Inf is implicit); nil or empty keeps
// [DefaultBuckets].
func WithBuckets(bounds []float64) Option {
	return optionFunc(func(c *config) {
		if b := cleanBuckets(bounds); b != nil {
			c.buckets = b
		}
	})
}

// WithMaxPolicies bounds how many distinct policy names label
// halt_requests_total (a policy resolver that mints a policy per tenant
// could otherwise grow it without end): requests under names beyond the
// first n seen are counted under policy [OtherPolicy]. Zero or less keeps
// the current value ([DefaultMaxPolicies] by default).
func WithMaxPolicies(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxPolicies = n
		}
	})
}
