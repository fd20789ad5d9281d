package devcore

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// racSettingsSources are the layers of a RAC connection's settings, in
// authentik's precedence order (ConnectionToken.get_settings): each later
// layer is deep-merged over the earlier ones, and the drive parameters are
// forced last.
type racSettingsSources struct {
	Defaults         map[string]any
	Provider         map[string]any
	Endpoint         map[string]any
	ProviderMappings []map[string]any // by mapping name
	EndpointMappings []map[string]any // by mapping name
	Token            map[string]any   // the flow's connection_settings
	Forced           map[string]any
}

// merge applies the layers in order and renders every value as a string,
// as authentik does before handing them to guacd: booleans lower-case,
// dicts and lists as JSON, nulls dropped.
func (src racSettingsSources) merge() map[string]string {
	out := map[string]any{}
	layers := [][]map[string]any{
		{src.Defaults}, {src.Provider}, {src.Endpoint}, src.ProviderMappings, src.EndpointMappings, {src.Token}, {src.Forced},
	}
	for _, group := range layers {
		for _, layer := range group {
			racMerge(out, layer)
		}
	}
	params := make(map[string]string, len(out))
	for k, v := range out {
		switch x := v.(type) {
		case nil:
			continue
		case string:
			params[k] = x
		case bool:
			params[k] = strconv.FormatBool(x)
		case map[string]any, []any:
			b, err := json.Marshal(x)
			if err != nil {
				continue
			}
			params[k] = string(b)
		case float64:
			params[k] = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			params[k] = fmt.Sprint(x)
		}
	}
	return params
}

// racMerge merges src into dst like Python deepmerge's always_merger:
// dicts recursively, lists appended, anything else replaced.
func racMerge(dst, src map[string]any) {
	for k, v := range src {
		cur, ok := dst[k]
		if !ok {
			dst[k] = cloneValue(v)
			continue
		}
		switch cv := cur.(type) {
		case map[string]any:
			if sv, ok := v.(map[string]any); ok {
				racMerge(cv, sv)
				continue
			}
		case []any:
			if sv, ok := v.([]any); ok {
				dst[k] = append(append([]any{}, cv...), sv...)
				continue
			}
		}
		dst[k] = cloneValue(v)
	}
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	default:
		return v
	}
}

// racDefaults are authentik's defaults for an endpoint: hostname and port
// from its host (an IPv6 literal in brackets keeps its colons, unlike
// authentik's split on ":"), RDP's display-update resize, and the client
// name.
func racDefaults(ep *model.RACEndpoint, username string) map[string]any {
	d := map[string]any{"hostname": ep.Host}
	if host, port, err := net.SplitHostPort(ep.Host); err == nil {
		d["hostname"], d["port"] = host, port
	} else if h := strings.Trim(ep.Host, "[]"); h != ep.Host {
		d["hostname"] = h
	}
	if ep.Protocol == "rdp" {
		d["resize-method"] = "display-update"
	}
	d["client-name"] = "authentik - " + username
	return d
}

// racForced are the drive parameters authentik always sets, per token.
func racForced(token string) map[string]any {
	return map[string]any{"drive-path": "/tmp/connection/" + token, "create-drive-path": "true"}
}

func racParams(rp *model.RACProvider, ep *model.RACEndpoint, username, token string, tokenSettings map[string]any) map[string]string {
	return racSettingsSources{
		Defaults: racDefaults(ep, username),
		Provider: maps.Clone(rp.Settings),
		Endpoint: maps.Clone(ep.Settings),
		Token:    tokenSettings,
		Forced:   racForced(token),
	}.merge()
}
