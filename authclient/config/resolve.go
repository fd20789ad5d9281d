package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// Resolve expands an env:// or file:// reference the way authentik's config
// loaders do (parseScheme in internal/config/config.go, parse_uri in
// authentik/lib/config.py); any other value is returned unchanged.
//
//   - env://NAME?fallback returns getenv(NAME), or the fallback (the raw
//     query, not unescaped) when that is empty. authentik returns an empty
//     value of a variable that is set; getenv cannot tell unset from empty,
//     so here both fall back.
//   - file:///path?fallback returns the file's content with leading and
//     trailing white space removed. When the file cannot be read it returns
//     the fallback, as authentik does; when no "?" was given at all it
//     returns an error instead of authentik's silent empty string, so a
//     missing secret file stops the outpost with a clear message.
//
// A value that does not parse as a URL is returned unchanged. References are
// not resolved recursively.
func Resolve(value string, getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	u, err := url.Parse(value)
	if err != nil {
		return value, nil
	}
	switch u.Scheme {
	case "env":
		if v := getenv(u.Host); v != "" {
			return v, nil
		}
		return u.RawQuery, nil
	case "file":
		data, err := readFile(u.Path)
		if err != nil {
			if u.RawQuery != "" || u.ForceQuery {
				return u.RawQuery, nil
			}
			return "", fmt.Errorf("file reference without fallback: %w", err)
		}
		return strings.TrimSpace(string(data)), nil
	default:
		return value, nil
	}
}

// maxFileSize bounds what a file:// reference may hold. Secrets and URLs are
// tiny; the bound keeps a reference to /dev/zero or a log file from eating
// memory or hanging start-up.
const maxFileSize = 1 << 20

// readFileLimited is os.ReadFile with maxFileSize.
func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, errors.New("file is larger than 1 MiB")
	}
	return data, nil
}
