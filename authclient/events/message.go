// Package events speaks the outpost control channel: the websocket between
// an outpost and the core at /ws/outpost/<pk>/.
package events

// Instruction is the code in a control-channel message.
type Instruction int

// The instruction codes, as authentik's core and outposts number them.
const (
	Ack              Instruction = 0
	Hello            Instruction = 1
	TriggerUpdate    Instruction = 2
	ProviderSpecific Instruction = 3
	SessionEnd       Instruction = 4
)

// Message is one JSON text frame on the control channel.
type Message struct {
	Instruction Instruction    `json:"instruction"`
	Args        map[string]any `json:"args"`
}
