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
