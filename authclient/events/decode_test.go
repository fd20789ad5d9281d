package events

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Message
		wantErr bool
	}{
		{name: "ack", in: `{"instruction":0,"args":{}}`, want: Message{Instruction: Ack, Args: map[string]any{}}},
		{name: "no args", in: `{"instruction":2}`, want: Message{Instruction: TriggerUpdate, Args: map[string]any{}}},
		{name: "null args", in: `{"instruction":2,"args":null}`, want: Message{Instruction: TriggerUpdate, Args: map[string]any{}}},
		{
			name: "provider specific",
			in:   `{"instruction":3,"args":{"sub_type":"logout","session_id":"abc"}}`,
			want: Message{Instruction: ProviderSpecific, Args: map[string]any{"sub_type": "logout", "session_id": "abc"}},
		},
		{name: "unknown instruction", in: `{"instruction":42,"args":{}}`, want: Message{Instruction: 42, Args: map[string]any{}}},
		{name: "args not an object", in: `{"instruction":3,"args":[1]}`, wantErr: true},
		{name: "not json", in: `hello`, wantErr: true},
		{name: "instruction a string", in: `{"instruction":"2"}`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeMessage([]byte(tt.in))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"instruction":0,"args":{}}`,
		`{"instruction":3,"args":{"sub_type":"init_connection","dest_channel_id":"x","params":{"hostname":"h"}}}`,
		`{"instruction":4,"args":{"session_id":"s"}}`,
		`{"instruction":2}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := DecodeMessage(data)
		if err != nil {
			return
		}
		if msg.Args == nil {
			t.Fatal("decoded message has nil args")
		}
		// What was decoded can be sent back.
		out, err := json.Marshal(msg)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := DecodeMessage(out); err != nil {
			t.Fatalf("decode of re-encoded message: %v", err)
		}
	})
}

func TestChannelURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		host    string
		attempt int
		want    string
		wantErr bool
	}{
		{name: "http", host: "http://core.example:9000/", want: "ws://core.example:9000/ws/outpost/pk1/?instance_uuid=inst"},
		{name: "https sub-path", host: "https://example.com/authentik/", want: "wss://example.com/authentik/ws/outpost/pk1/?instance_uuid=inst"},
		{name: "path without slash", host: "https://example.com/authentik", want: "wss://example.com/authentik/ws/outpost/pk1/?instance_uuid=inst"},
		{name: "reconnect", host: "http://h/", attempt: 3, want: "ws://h/ws/outpost/pk1/?attempt=3&instance_uuid=inst"},
		{name: "host query kept", host: "http://h/?a=b", want: "ws://h/ws/outpost/pk1/?a=b&instance_uuid=inst"},
		{name: "bad scheme", host: "ftp://h/", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := mustParse(t, tt.host)
			got, err := channelURL(host, "pk1", "inst", tt.attempt)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.String())
		})
	}
}
