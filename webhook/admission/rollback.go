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
	if !ok || marker == "" || !slices.Contains(g.rollbackUsers, req.User.Username) {
		return Decision{}, false
	}
	return Decision{Allowed: true, Exempt: "rollback by bollard's daemon",
		Warnings: []string{fmt.Sprintf("rollback by %s (%s): admitted without re-evaluating the policies, as the state it returns to was admitted before; recorded (Event Rollback)", req.User.Username, marker)},
		Rollback: &RollbackUse{User: req.User.Username, Marker: marker}}, true
}
