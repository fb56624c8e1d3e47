package bollard.errors_test

import data.bollard.errors

test_errors_deny if {
	errors.deny == {"bollard.dev/requires-flags: flag x required twice"} with input as {"errors": ["bollard.dev/requires-flags: flag x required twice"]}
}

test_no_errors_allow if {
	count(errors.deny) == 0 with input as {"errors": []}
}
