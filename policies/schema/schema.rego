# Database schema compatibility: a workload that needs a schema version newer than the applied one
# is denied until the migration has run.
package bollard.schema

deny contains msg if {
	input.isDeploy
	s := input.schema
	not s.satisfied
	msg := sprintf("%s %s needs database schema %s, but %s records %s as applied (DeployPolicy %s); run the migration first", [
		input.kind, input.name, s.required, s.source, s.applied, s.policy,
	])
}
