package bollard.schema_test

import data.bollard.schema

test_newer_schema_denies if {
	inp := {"isDeploy": true, "kind": "Deployment", "name": "orders", "schema": {
		"required": "43", "applied": "42", "satisfied": false,
		"source": "ConfigMap shop/db-schema key version", "policy": "shop",
	}}
	schema.deny == {"Deployment orders needs database schema 43, but ConfigMap shop/db-schema key version records 42 as applied (DeployPolicy shop); run the migration first"} with input as inp
}

test_applied_schema_allows if {
	count(schema.deny) == 0 with input as {"isDeploy": true, "schema": {"required": "42", "applied": "42", "satisfied": true}}
}

test_no_requirement_allows if {
	count(schema.deny) == 0 with input as {"isDeploy": true}
}
