package admission

import (
	"fmt"
	"slices"
	"strings"
)

// OptOutLabel on a namespace keeps the gate out of it (the webhook registration's
// namespaceSelector skips it). Setting, changing or removing it is itself gated.
const OptOutLabel = "bollard.dev/ignore"

// WithOptOutAdmins names who may set, change or remove the opt-out label on a namespace: those
// users and members of those groups. Without the option only system:masters may.
func WithOptOutAdmins(users, groups []string) GateOption {
	return func(g *Gate) { g.optOutUsers, g.optOutGroups = users, groups }
}

// optOut decides a Namespace write: a change to the opt-out label turns the gate off (or on) for
// a whole namespace, so only the opt-out admins may make it. Other namespace writes pass.
func (g *Gate) optOut(req Request) Decision {
	label := func(labels map[string]string) (string, bool) { v, ok := labels[OptOutLabel]; return v, ok }
	newValue, newSet := label(req.Object.GetLabels())
	oldValue, oldSet := "", false
	if req.OldObject != nil {
		oldValue, oldSet = label(req.OldObject.GetLabels())
	}
	if newValue == oldValue && newSet == oldSet {
		return Decision{Allowed: true, Exempt: "namespace write leaves " + OptOutLabel + " as it is"}
	}
	groups := g.optOutGroups
	if len(groups) == 0 && len(g.optOutUsers) == 0 {
		groups = []string{"system:masters"}
	}
	if slices.Contains(g.optOutUsers, req.User.Username) || slices.ContainsFunc(req.User.Groups, func(gr string) bool { return slices.Contains(groups, gr) }) {
		return Decision{Allowed: true, Warnings: []string{fmt.Sprintf("label %s on namespace %s changed by %s: the deploy gate is %s there", OptOutLabel, req.Object.GetName(), req.User.Username, onOff(newValue))}}
	}
	who := append(prefixed("user ", g.optOutUsers), prefixed("group ", groups)...)
	return Decision{Reasons: []string{fmt.Sprintf("label %s on namespace %s turns the deploy gate off there; only %s may set, change or remove it, not %s",
		OptOutLabel, req.Object.GetName(), strings.Join(who, ", "), req.User.Username)}}
}

func onOff(value string) string {
	if value == "true" {
		return "off"
	}
	return "on"
}

func prefixed(prefix string, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = prefix + s
	}
	return out
}
