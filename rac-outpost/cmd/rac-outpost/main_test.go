package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

func TestInitConnectionIsCounted(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	metricsAddr := outposttest.FreeAddr(t)
	log, stop := outposttest.InProcess(t, program(), map[string]string{
		"AUTHENTIK_HOST":            core.URL,
		"AUTHENTIK_TOKEN":           core.Token("rac-outpost"),
		"AUTHENTIK_LISTEN__METRICS": metricsAddr,
	})
	require.Eventually(t, func() bool { return len(core.Server.Connected("rac-outpost")) == 1 }, outposttest.Wait, outposttest.Tick)

	msg := events.Message{Instruction: events.ProviderSpecific, Args: map[string]any{"sub_type": "init_connection", "dest_channel_id": "c1"}}
	require.Equal(t, 1, core.Server.Send("rac-outpost", msg))
	require.Eventually(t, func() bool {
		return strings.Contains(log.String(), "init_connection not implemented yet")
	}, outposttest.Wait, outposttest.Tick)
	require.Eventually(t, func() bool {
		v, ok := outposttest.Scrape(metricsAddr, `authentik_outpost_rac_provider_messages_total{sub_type="init_connection"}`)
		return ok && v == 1
	}, outposttest.Wait, outposttest.Tick)
	assert.Equal(t, 0, stop())
}
