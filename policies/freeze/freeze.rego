# Freeze windows. Go computes which windows are active for the object (webhook/freeze); this
# decides: a deploy inside an active deny window, or outside every allow window of a policy, is
# denied unless an authorised break-glass says otherwise, which is admitted with a warning.
package bollard.freeze

deny contains msg if {
	input.isDeploy
	not input.breakGlass.authorized
	some w in input.freeze.active
	msg := sprintf("%s%s are frozen by window `%s` of DeployPolicy %s (%s, ends in %s)%s", [
		changes, target, w.window, w.policy, w.description, w.endsIn, hint,
	])
}

deny contains msg if {
	input.isDeploy
	not input.breakGlass.authorized
	some w in input.freeze.outsideAllow
	msg := sprintf("%s%s are allowed only during window `%s` of DeployPolicy %s; the next one is %s (starts in %s)%s", [
		changes, target, w.window, w.policy, w.description, w.startsIn, hint,
	])
}

warn contains msg if {
	input.isDeploy
	input.breakGlass.authorized
	frozen
	msg := sprintf("break-glass by %s inside a freeze, reason %q: this %s is recorded (Event BreakGlass)", [
		input.user.username, input.breakGlass.reason, change,
	])
}

# What is frozen: deploys, or (DELETE) deletes of this workload.
changes := sprintf("deletes of %s %s", [input.kind, input.name]) if input.operation == "DELETE" else := "deploys"

change := "delete" if input.operation == "DELETE" else := "deploy"

frozen if count(input.freeze.active) > 0

frozen if count(input.freeze.outsideAllow) > 0

frozen if count(input.flags.freezeSwitches) > 0

target := sprintf(" to %s", [input.environment]) if input.environment != ""

else := ""

hint := sprintf("; break-glass is not allowed for %s by the policy", [input.user.username]) if {
	input.breakGlass.requested
} else := "; add bollard.dev/break-glass with a reason if you are on-call"
