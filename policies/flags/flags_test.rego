package bollard.flags_test

import data.bollard.flags

base := {
	"isDeploy": true,
	"kind": "Deployment",
	"name": "checkout",
	"breakGlass": {"authorized": false},
	"flags": {"mismatches": [], "freezeSwitches": []},
}

test_mismatch_denies if {
	inp := object.union(base, {"flags": {"mismatches": [{
		"flag": "new-checkout", "want": "off", "have": "on",
		"source": "ConfigMap flags/flagd key flags.json", "policy": "shop",
	}], "freezeSwitches": []}})
	flags.deny == {"Deployment checkout requires feature flag new-checkout=off, but it is on in ConfigMap flags/flagd key flags.json (DeployPolicy shop)"} with input as inp
}

test_freeze_switch_denies_unless_break_glass if {
	inp := object.union(base, {"flags": {"mismatches": [], "freezeSwitches": [{
		"flag": "deploy-freeze", "source": "ConfigMap flags/flagd key flags.json", "policy": "shop",
	}]}})
	count(flags.deny) == 1 with input as inp
	count(flags.deny) == 0 with input as object.union(inp, {"breakGlass": {"authorized": true}})
}

test_all_met_allows if {
	count(flags.deny) == 0 with input as base
}
