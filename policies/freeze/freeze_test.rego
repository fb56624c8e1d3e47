package bollard.freeze_test

import data.bollard.freeze

black_friday := {
	"policy": "retail",
	"window": "black-friday",
	"description": "Fri 00:00–Mon 06:00 Europe/Berlin",
	"endsIn": "2h13m",
}

frozen_input := {
	"isDeploy": true,
	"environment": "production",
	"user": {"username": "alice", "groups": ["dev"]},
	"freeze": {"active": [black_friday], "outsideAllow": []},
	"flags": {"freezeSwitches": []},
	"breakGlass": {"requested": false, "authorized": false, "reason": ""},
}

test_active_window_denies if {
	freeze.deny == {"deploys to production are frozen by window `black-friday` of DeployPolicy retail (Fri 00:00–Mon 06:00 Europe/Berlin, ends in 2h13m); add bollard.dev/break-glass with a reason if you are on-call"} with input as frozen_input
}

test_unauthorised_break_glass_still_denies if {
	some msg in freeze.deny with input as object.union(frozen_input, {"breakGlass": {"requested": true, "authorized": false, "reason": "INC-7"}})
	contains(msg, "break-glass is not allowed for alice")
}

test_authorised_break_glass_admits_with_warning if {
	inp := object.union(frozen_input, {"breakGlass": {"requested": true, "authorized": true, "reason": "INC-7 hotfix"}})
	count(freeze.deny) == 0 with input as inp
	freeze.warn == {`break-glass by alice inside a freeze, reason "INC-7 hotfix": this deploy is recorded (Event BreakGlass)`} with input as inp
}

test_not_a_deploy_passes if {
	count(freeze.deny) == 0 with input as object.union(frozen_input, {"isDeploy": false})
}

test_outside_allow_window_denies if {
	inp := object.union(frozen_input, {"environment": "", "freeze": {"active": [], "outsideAllow": [{
		"policy": "office-hours", "window": "weekdays",
		"description": "Mon 09:00–Mon 17:00 Europe/Berlin", "startsIn": "14h",
	}]}})
	freeze.deny == {"deploys are allowed only during window `weekdays` of DeployPolicy office-hours; the next one is Mon 09:00–Mon 17:00 Europe/Berlin (starts in 14h); add bollard.dev/break-glass with a reason if you are on-call"} with input as inp
}

test_no_window_no_message if {
	inp := object.union(frozen_input, {"freeze": {"active": [], "outsideAllow": []}})
	count(freeze.deny) == 0 with input as inp
	count(freeze.warn) == 0 with input as inp
}
