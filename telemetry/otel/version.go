package haltotel

// Version is the version of this module, reported as the meter's
// instrumentation version.
const Version = "0.1.0"

// ScopeName is the instrumentation scope of the meter: this module's path.
const ScopeName = "github.com/halt-go/halt/telemetry/otel"
