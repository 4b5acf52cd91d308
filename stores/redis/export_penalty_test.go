package haltredis

// TakePenalizedSource is the Lua source of TakePenalized's script, and
// TakePenalizedErr the error of its assembly (tests).
var (
	TakePenalizedSource = takePenalizedSrc
	TakePenalizedErr    = takePenalizedErr
)
