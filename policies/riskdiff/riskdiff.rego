# Risky configuration changes. Go classifies the UPDATE (webhook/riskdiff) and gives each change
# the strictest action of the DeployPolicies that apply; messages carry field paths, never values.
package bollard.riskdiff

approved if {
	input.risky.approval != ""
	not input.risky.approvalReused
}

deny contains msg if {
	some c in input.risky.changes
	c.action == "deny"
	not approved
	msg := sprintf("risky change (%s) at %s: %s; %s", [c.class, c.path, c.detail, approve_hint])
}

warn contains msg if {
	some c in input.risky.changes
	c.action == "warn"
	msg := sprintf("risky change (%s) at %s: %s", [c.class, c.path, c.detail])
}

warn contains msg if {
	some c in input.risky.changes
	c.action == "deny"
	approved
	msg := sprintf("risky change (%s) at %s: %s; approved by %s", [c.class, c.path, c.detail, input.risky.approval])
}

approve_hint := sprintf("approval %s was used for an earlier change: put a new ticket in bollard.dev/approved-change", [input.risky.approval]) if {
	input.risky.approvalReused
} else := "add bollard.dev/approved-change with the ticket that approves it"
