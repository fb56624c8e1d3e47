package admission

import (
	"fmt"
	"slices"
)

// AnnotationRollback marks what bollard's daemon applies to roll a Release back to a state the
// gate admitted before (its value: "<namespace>/<release> to <revision>"). It counts only in a
// request by one of the daemon's identities (WithRollbackUsers); the daemon refuses it in what
// it renders from git, so nobody else can use it.
const AnnotationRollback = "bollard.dev/rollback"

// WithRollbackUsers names the daemon's identities (its ServiceAccount's user name): their writes
// marked with AnnotationRollback are admitted whatever the policies say now — a freeze that
// began, a registry outage, a new deny rule never block the red button — with a warning, and the
// webhook records an Event.
func WithRollbackUsers(users []string) GateOption {
	return func(g *Gate) { g.rollbackUsers = users }
}

// ExtraDaemon is the user-extra key bollard's daemon sets, with its own user name as the value,
// when it writes as a Release's ServiceAccount (impersonation). Only an impersonator may set a
// user extra, and impersonating it takes the RBAC permission "impersonate" on
// authentication.k8s.io userextras/bollard.dev/daemon, which only the daemon's ClusterRole
// grants: a tenant holding its ServiceAccount's token cannot send it.
const ExtraDaemon = "bollard.dev/daemon"

// isDaemon says whether u is one of the daemon's identities, itself or a Release's
// ServiceAccount it impersonates.
func (g *Gate) isDaemon(u User) bool {
	_, ok := g.daemonOf(u)
	return ok
}

// daemonOf says who u is: the daemon's name, or "<daemon> as <ServiceAccount>".
func (g *Gate) daemonOf(u User) (string, bool) {
	if slices.Contains(g.rollbackUsers, u.Username) {
		return u.Username, true
	}
	for _, via := range u.Extra[ExtraDaemon] {
		if slices.Contains(g.rollbackUsers, via) {
			return via + " as " + u.Username, true
		}
	}
	return "", false
}

// RollbackUse is the audit record of a rollback admitted by identity.
type RollbackUse struct {
	User   string `json:"user"`
	Marker string `json:"marker"`
}

// rollback recognises the daemon's rollback: the request's user is a daemon identity and the
// object carries the marker. Any other user's marked write is reviewed as usual.
func (g *Gate) rollback(req Request) (Decision, bool) {
	if req.Object == nil {
		return Decision{}, false
	}
	marker, ok := req.Object.GetAnnotations()[AnnotationRollback]
	by, daemon := g.daemonOf(req.User)
	if !ok || marker == "" || !daemon {
		return Decision{}, false
	}
	return Decision{Allowed: true, Exempt: "rollback by bollard's daemon",
		Warnings: []string{fmt.Sprintf("rollback by %s (%s): admitted without re-evaluating the policies, as the state it returns to was admitted before; recorded (Event Rollback)", by, marker)},
		Rollback: &RollbackUse{User: by, Marker: marker}}, true
}
