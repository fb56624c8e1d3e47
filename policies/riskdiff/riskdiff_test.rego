package bollard.riskdiff_test

import data.bollard.riskdiff

db_change := {"class": "DatabaseURL", "path": "spec.template.spec.containers[web].env[DATABASE_URL]", "detail": "database URL value changed"}

test_warn_rule_warns if {
	inp := {"risky": {"changes": [object.union(db_change, {"action": "warn"})], "approval": "", "approvalReused": false}}
	riskdiff.warn == {"risky change (DatabaseURL) at spec.template.spec.containers[web].env[DATABASE_URL]: database URL value changed"} with input as inp
	count(riskdiff.deny) == 0 with input as inp
}

test_deny_rule_denies_without_approval if {
	inp := {"risky": {"changes": [object.union(db_change, {"action": "deny"})], "approval": "", "approvalReused": false}}
	riskdiff.deny == {"risky change (DatabaseURL) at spec.template.spec.containers[web].env[DATABASE_URL]: database URL value changed; add bollard.dev/approved-change with the ticket that approves it"} with input as inp
}

test_approval_admits_with_warning if {
	inp := {"risky": {"changes": [object.union(db_change, {"action": "deny"})], "approval": "CHG-42", "approvalReused": false}}
	count(riskdiff.deny) == 0 with input as inp
	riskdiff.warn == {"risky change (DatabaseURL) at spec.template.spec.containers[web].env[DATABASE_URL]: database URL value changed; approved by CHG-42"} with input as inp
}

test_reused_approval_denies if {
	inp := {"risky": {"changes": [object.union(db_change, {"action": "deny"})], "approval": "CHG-41", "approvalReused": true}}
	some msg in riskdiff.deny with input as inp
	contains(msg, "approval CHG-41 was used for an earlier change")
}
