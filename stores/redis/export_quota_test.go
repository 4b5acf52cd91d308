package haltredis

// QuotaRedisKey is the Redis key of a quota key (tests).
func (s *Store) QuotaRedisKey(key []byte) string { return s.quotaKey(key) }
