// Package settings reads the RAC outpost's own settings from its
// environment: where guacd is and how to reach it, and the relay's timers.
// (The connection parameters themselves come from the core, merged there
// in authentik's precedence order.)
package settings

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-go/outposts/rac-outpost/guacd"
)

// Environment variable names.
const (
	EnvGuacdAddress       = "GUACD_ADDRESS"
	EnvGuacdTLS           = "GUACD_TLS"
	EnvGuacdTLSCA         = "GUACD_TLS_CA"
	EnvGuacdTLSServerName = "GUACD_TLS_SERVER_NAME"
	EnvGuacdTLSInsecure   = "GUACD_TLS_INSECURE"
	EnvGuacdCheck         = "GUACD_CHECK_INTERVAL"
	EnvKeepAlive          = "RAC_KEEPALIVE_INTERVAL"
	EnvTimezone           = "TZ"
)

// Defaults.
const (
	DefaultGuacdAddress  = "localhost:4822"
	DefaultCheckInterval = 10 * time.Second
	DefaultTimezone      = "UTC"
)

// Settings are the outpost's RAC settings.
type Settings struct {
	// Guacd is where guacd listens and whether it speaks TLS.
	Guacd guacd.Endpoint
	// CheckInterval is how often guacd's health is checked.
	CheckInterval time.Duration
	// KeepAlive is the websocket ping interval of each session; 0 means
	// the relay's default.
	KeepAlive time.Duration
	// Timezone is sent to guacd when a connection does not set its own.
	Timezone string
}

// Error is a bad setting.
type Error struct {
	Name, Reason string
}

func (e *Error) Error() string { return e.Name + ": " + e.Reason }

// Load reads the settings; readFile reads GUACD_TLS_CA (nil means
// os.ReadFile).
func Load(getenv func(string) string, readFile func(string) ([]byte, error)) (Settings, error) {
	if readFile == nil {
		readFile = os.ReadFile
	}
	s := Settings{
		Guacd:         guacd.Endpoint{Address: DefaultGuacdAddress},
		CheckInterval: DefaultCheckInterval,
		Timezone:      DefaultTimezone,
	}
	if v := strings.TrimSpace(getenv(EnvGuacdAddress)); v != "" {
		host, port, err := net.SplitHostPort(v)
		if err != nil || host == "" {
			return s, &Error{EnvGuacdAddress, fmt.Sprintf("%q is not host:port", v)}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return s, &Error{EnvGuacdAddress, fmt.Sprintf("%q has no valid port", v)}
		}
		s.Guacd.Address = v
	}
	useTLS, err := boolean(getenv, EnvGuacdTLS)
	if err != nil {
		return s, err
	}
	insecure, err := boolean(getenv, EnvGuacdTLSInsecure)
	if err != nil {
		return s, err
	}
	ca := strings.TrimSpace(getenv(EnvGuacdTLSCA))
	serverName := strings.TrimSpace(getenv(EnvGuacdTLSServerName))
	if !useTLS && (ca != "" || serverName != "" || insecure) {
		return s, &Error{EnvGuacdTLS, "TLS options are set but GUACD_TLS is not true"}
	}
	if useTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: insecure} //nolint:gosec // opt-in for self-signed guacd
		if serverName == "" {
			host, _, _ := net.SplitHostPort(s.Guacd.Address)
			cfg.ServerName = host
		}
		if ca != "" {
			pem, err := readFile(ca)
			if err != nil {
				return s, &Error{EnvGuacdTLSCA, fmt.Sprintf("read %s: %v", ca, err)}
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return s, &Error{EnvGuacdTLSCA, fmt.Sprintf("%s holds no PEM certificate", ca)}
			}
			cfg.RootCAs = pool
		}
		s.Guacd.TLS = cfg
	}
	if s.CheckInterval, err = duration(getenv, EnvGuacdCheck, DefaultCheckInterval); err != nil {
		return s, err
	}
	if s.KeepAlive, err = duration(getenv, EnvKeepAlive, 0); err != nil {
		return s, err
	}
	if v := strings.TrimSpace(getenv(EnvTimezone)); v != "" {
		if _, err := time.LoadLocation(v); err != nil {
			return s, &Error{EnvTimezone, fmt.Sprintf("%q is not a known time zone", v)}
		}
		s.Timezone = v
	}
	return s, nil
}

func boolean(getenv func(string) string, name string) (bool, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &Error{name, fmt.Sprintf("%q is not true or false", v)}
	}
	return b, nil
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return def, &Error{name, fmt.Sprintf("%q is not a positive duration such as 10s", v)}
	}
	return d, nil
}
