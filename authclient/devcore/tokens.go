package devcore

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// tokenStore hands out generated outpost tokens, keyed by outpost name, and
// keeps them in <state>/tokens.json so a restart keeps them.
type tokenStore struct {
	mu     sync.Mutex
	path   string // "" = memory only
	tokens map[string]string
}

func newTokenStore(stateDir string) (*tokenStore, error) {
	ts := &tokenStore{tokens: map[string]string{}}
	if stateDir == "" {
		return ts, nil
	}
	ts.path = filepath.Join(stateDir, "tokens.json")
	data, err := os.ReadFile(ts.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ts, nil
	case err != nil:
		return nil, fmt.Errorf("read token file: %w", err)
	}
	if err := json.Unmarshal(data, &ts.tokens); err != nil {
		return nil, fmt.Errorf("parse token file %s: %w", ts.path, err)
	}
	if ts.tokens == nil {
		ts.tokens = map[string]string{}
	}
	return ts, nil
}

// tokenFor returns the token of the named outpost, generating and
// persisting one the first time; generated is true only then.
func (ts *tokenStore) tokenFor(name string) (token string, generated bool, err error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.tokens[name]; ok && t != "" {
		return t, false, nil
	}
	b, err := randomBytes(32)
	if err != nil {
		return "", false, err
	}
	t := hex.EncodeToString(b)
	ts.tokens[name] = t
	if err := ts.saveLocked(); err != nil {
		delete(ts.tokens, name)
		return "", false, err
	}
	return t, true, nil
}

func (ts *tokenStore) saveLocked() error {
	if ts.path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(ts.path), 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	data, err := json.MarshalIndent(ts.tokens, "", "  ")
	if err != nil {
		return fmt.Errorf("encode tokens: %w", err)
	}
	tmp := ts.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if err := os.Rename(tmp, ts.path); err != nil {
		return fmt.Errorf("replace token file: %w", err)
	}
	return nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return b, nil
}
