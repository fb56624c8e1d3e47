# Feature flags. Go reads the live states from the flagd document a DeployPolicy names and lists
# the requirements of bollard.dev/requires-flags that they do not meet, and the freeze-switch
# flags that are on.
package bollard.flags

deny contains msg if {
	input.isDeploy
	some m in input.flags.mismatches
	msg := sprintf("%s %s requires feature flag %s=%s, but it is %s in %s (DeployPolicy %s)", [
		input.kind, input.name, m.flag, m.want, m.have, m.source, m.policy,
	])
}

deny contains msg if {
	input.isDeploy
	not input.breakGlass.authorized
	some s in input.flags.freezeSwitches
	msg := sprintf("deploys are frozen by feature flag %s in %s (DeployPolicy %s); add bollard.dev/break-glass with a reason if you are on-call", [
		s.flag, s.source, s.policy,
	])
}
