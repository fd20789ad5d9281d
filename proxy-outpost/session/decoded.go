package session

import (
	"bytes"
	"sync"
)

// decodedMax bounds the decoded-session cache of one store.
const decodedMax = 4096

// decodedCache keeps recently opened sessions, so that a request whose
// stored blob is byte-for-byte the one opened before costs neither the key
// derivation, the decryption nor the JSON decoding. It is keyed by the
// storage key and checked against the whole blob: any write (Save, Touch,
// a refresh on another replica) changes the blob, since every write uses a
// fresh nonce, and a deleted session is never fetched, so the cache cannot
// serve anything the store would not. Lifetimes and the revocation epoch
// are still checked by Load on every request.
type decodedCache struct {
	max     int
	mu      sync.Mutex
	entries map[string]decodedEntry
}

type decodedEntry struct {
	blob []byte
	sess Session
}

func newDecodedCache(max int) *decodedCache {
	return &decodedCache{max: max, entries: map[string]decodedEntry{}}
}

// get returns a copy of the session decoded from blob, if it is cached.
func (d *decodedCache) get(key string, blob []byte) (*Session, bool) {
	d.mu.Lock()
	e, ok := d.entries[key]
	d.mu.Unlock()
	if !ok || !bytes.Equal(e.blob, blob) {
		return nil, false
	}
	// Callers change the top-level fields (LastSeen, tokens); the claims'
	// slices and maps are only read.
	s := e.sess
	return &s, true
}

func (d *decodedCache) put(key string, blob []byte, sess *Session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.entries[key]; !ok && len(d.entries) >= d.max {
		// Drop an arbitrary tenth, as Near does: a miss costs one decode.
		i := 0
		for k := range d.entries {
			delete(d.entries, k)
			if i++; i >= d.max/10+1 {
				break
			}
		}
	}
	d.entries[key] = decodedEntry{blob: bytes.Clone(blob), sess: *sess}
}

// verifiedIDs remembers cookie values that passed ParseCookie. The same
// cookie comes with every request of a session, and checking it costs an
// HMAC and a hash each time. Only cookies this store signed are kept, under
// their whole value (MAC included), so a lookup can only return what
// checking the cookie again would.
type verifiedIDs struct {
	max int
	mu  sync.Mutex
	ids map[string]ID
}

func newVerifiedIDs(max int) *verifiedIDs {
	return &verifiedIDs{max: max, ids: map[string]ID{}}
}

func (v *verifiedIDs) get(cookie string) (ID, bool) {
	v.mu.Lock()
	id, ok := v.ids[cookie]
	v.mu.Unlock()
	return id, ok
}

func (v *verifiedIDs) put(cookie string, id ID) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.ids[cookie]; !ok && len(v.ids) >= v.max {
		// Drop an arbitrary tenth, as decodedCache does.
		i := 0
		for k := range v.ids {
			delete(v.ids, k)
			if i++; i >= v.max/10+1 {
				break
			}
		}
	}
	v.ids[cookie] = id
}
