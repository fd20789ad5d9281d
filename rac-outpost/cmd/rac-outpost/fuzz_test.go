package main

import (
	"encoding/json"
	"testing"

	"github.com/outpost-go/outposts/authclient/events"
)

// FuzzDecodeRequest: any control-channel frame either decodes to a usable
// request or is rejected; never a panic, never an unsafe channel path.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"instruction":3,"args":{"type":"event.provider.specific","sub_type":"init_connection","dest_channel_id":"specific..inmemory!abc","params":{"hostname":"10.0.0.5","port":"3389","ignore-cert":true,"font-size":14},"protocol":"rdp","screen_width":"1280","screen_height":"800"}}`,
		`{"instruction":3,"args":{"sub_type":"init_connection","dest_channel_id":"../x","protocol":"ssh","screen_width":1024,"conn_id":"c1","session_id":"s"}}`,
		`{"instruction":3,"args":{"sub_type":"init_connection","protocol":"telnet"}}`,
		`{"instruction":3,"args":{"params":null,"protocol":5}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := events.DecodeMessage(data)
		if err != nil {
			return
		}
		req, err := decodeRequest(msg.Args)
		if err != nil {
			return
		}
		if req.connID == "" || req.destChannel == "" {
			t.Fatalf("accepted request without ids: %+v", req)
		}
		for _, c := range req.destChannel {
			if c == '/' || c == '?' || c == '#' {
				t.Fatalf("channel %q would escape its path", req.destChannel)
			}
		}
		if _, err := json.Marshal(req.params); err != nil {
			t.Fatal(err)
		}
	})
}
