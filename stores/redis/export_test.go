package haltredis

// CacheLen is the number of keys in the over-limit cache (tests).
func (s *Store) CacheLen() int {
	if s.cache == nil {
		return 0
	}
	return s.cache.len()
}

// StateVersion is the version byte the scripts write.
const StateVersion = stateVersion

// TakeAllSource is the Lua source of TakeAll's script.
var TakeAllSource = takeAllSrc

// Script sources and the decision body's writes, for the checks on how
// the scripts are assembled.
const (
	DecideBody = decideBody
	PeekSource = peekSrc
	SetCall    = setCall
)
