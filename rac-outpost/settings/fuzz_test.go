package settings_test

import (
	"errors"
	"testing"

	"github.com/outpost-go/outposts/rac-outpost/settings"
)

// FuzzLoad: any environment gives settings or a *settings.Error.
func FuzzLoad(f *testing.F) {
	f.Add("guacd:4822", "true", "", "10s", "20s", "Europe/Berlin")
	f.Add("[::1]:4822", "false", "/ca.pem", "-1s", "x", "Mars/Olympus")
	f.Add("guacd", "maybe", "", "", "", "")
	f.Fuzz(func(t *testing.T, addr, useTLS, ca, check, keepalive, tz string) {
		env := map[string]string{
			settings.EnvGuacdAddress: addr, settings.EnvGuacdTLS: useTLS, settings.EnvGuacdTLSCA: ca,
			settings.EnvGuacdCheck: check, settings.EnvKeepAlive: keepalive, settings.EnvTimezone: tz,
		}
		readFile := func(string) ([]byte, error) { return nil, errors.New("no files here") }
		s, err := settings.Load(func(k string) string { return env[k] }, readFile)
		if err != nil {
			var se *settings.Error
			if !errors.As(err, &se) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if s.Guacd.Address == "" || s.CheckInterval <= 0 {
			t.Fatalf("bad settings %+v", s)
		}
	})
}
