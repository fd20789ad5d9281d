package devcore

import (
	"fmt"
	"sort"

	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// checkApplication evaluates the application's policy bindings for u the
// way authentik's PolicyEngine does for user and group bindings: disabled
// bindings are ignored, negate flips a result, mode "all" needs every
// binding to pass and "any" (the default) one, and no bindings pass.
func (v *view) checkApplication(app *model.Application, u *model.User) api.PolicyTestResult {
	res := api.PolicyTestResult{Messages: []string{}, LogMessages: []api.LogEvent{}}
	var bindings []*model.PolicyBinding
	for _, b := range v.dir.PolicyBindings {
		if b.Target == app.PK && b.Enabled {
			bindings = append(bindings, b)
		}
	}
	if len(bindings) == 0 {
		res.Passing = true
		return res
	}
	sort.SliceStable(bindings, func(i, j int) bool { return bindings[i].Order < bindings[j].Order })
	groups := v.effectiveGroups(u)
	passed, failed := 0, 0
	var denials []string
	for _, b := range bindings {
		ok, why := v.bindingPasses(b, u, groups)
		if b.Negate {
			ok = !ok
			why = "negated: " + why
		}
		if ok {
			passed++
		} else {
			failed++
			denials = append(denials, why)
		}
	}
	if app.PolicyEngineMode == "all" {
		res.Passing = failed == 0
	} else {
		res.Passing = passed > 0
	}
	if !res.Passing {
		res.Messages = append(res.Messages, denials...)
	}
	return res
}

func (v *view) bindingPasses(b *model.PolicyBinding, u *model.User, groups map[string]bool) (bool, string) {
	switch {
	case b.Group != "":
		name := b.Group
		if g, ok := v.groupByPK[b.Group]; ok {
			name = g.Name
		}
		if groups[b.Group] {
			return true, fmt.Sprintf("user %s is a member of group %s", u.Username, name)
		}
		return false, fmt.Sprintf("user %s is not a member of group %s", u.Username, name)
	case b.User != 0:
		if b.User == u.PK {
			return true, fmt.Sprintf("binding is for user %s", u.Username)
		}
		return false, fmt.Sprintf("binding is not for user %s", u.Username)
	}
	return false, "binding has neither user nor group"
}
