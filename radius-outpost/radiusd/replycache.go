package radiusd

import (
	"net/netip"
	"sync"
	"time"
)

// DefaultReplyCacheTTL is how long an answered request is remembered. NAS
// devices retransmit a few times, a few seconds apart; 30 s covers the
// usual 3 retries of 5 s with room to spare (FreeRADIUS keeps 5 s by
// default, which a slow flow can outlast).
const DefaultReplyCacheTTL = 30 * time.Second

// maxReplyCacheEntries bounds the memory a flood of distinct requests can
// take; beyond it new requests are served but not remembered.
const maxReplyCacheEntries = 200000

// requestKey identifies a request for duplicate detection (RFC 5080 §2.2.2:
// source address and port, identifier, and, since identifiers wrap quickly,
// the request authenticator).
type requestKey struct {
	src  netip.AddrPort
	code byte
	id   byte
	auth [16]byte
}

type replyEntry struct {
	reply   []byte // nil while in flight
	expires time.Time
}

// replyCache remembers requests in flight and the replies sent, sharded to
// keep lock contention low under load.
type replyCache struct {
	ttl    time.Duration
	shards [64]replyShard
}

type replyShard struct {
	mu sync.Mutex
	m  map[requestKey]replyEntry
	// swept is when expired entries were last removed.
	swept time.Time
}

func newReplyCache(ttl time.Duration) *replyCache {
	if ttl <= 0 {
		ttl = DefaultReplyCacheTTL
	}
	c := &replyCache{ttl: ttl}
	for i := range c.shards {
		c.shards[i].m = make(map[requestKey]replyEntry)
	}
	return c
}

func (c *replyCache) shard(k requestKey) *replyShard {
	return &c.shards[(k.auth[0]^k.id)%byte(len(c.shards))]
}

// dupState is what begin found.
type dupState int

const (
	dupNew      dupState = iota // not seen: the caller handles it and calls finish or abort
	dupInFlight                 // being handled: drop
	dupAnswered                 // answered: resend the returned reply
)

// begin looks k up and, when it is new, marks it in flight.
func (c *replyCache) begin(k requestKey, now time.Time) (dupState, []byte) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok {
		if e.reply == nil {
			return dupInFlight, nil
		}
		if now.Before(e.expires) {
			return dupAnswered, e.reply
		}
		delete(s.m, k)
	}
	if now.Sub(s.swept) > c.ttl/4 {
		for key, e := range s.m {
			if e.reply != nil && !now.Before(e.expires) {
				delete(s.m, key)
			}
		}
		s.swept = now
	}
	if len(s.m) >= maxReplyCacheEntries/len(c.shards) {
		return dupNew, nil // served, not remembered: finish and abort do nothing
	}
	s.m[k] = replyEntry{}
	return dupNew, nil
}

// finish records the reply sent for k.
func (c *replyCache) finish(k requestKey, reply []byte, now time.Time) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		s.m[k] = replyEntry{reply: reply, expires: now.Add(c.ttl)}
	}
}

// abort forgets k, for a request that got no reply: its retransmit is
// handled as new.
func (c *replyCache) abort(k requestKey) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok && e.reply == nil {
		delete(s.m, k)
	}
}
