package bollard.images_test

import data.bollard.images

check(extra) := object.union({
	"path": "spec.template.spec.containers[web].image", "image": "registry.local/shop/web:v1",
	"digest": "sha256:abc", "policy": "shop-signed", "mode": "enforce", "verified": false,
	"authority": "", "reason": "no signatures found",
}, extra)

test_unsigned_denied_naming_image_digest_policy_and_reason if {
	images.deny == {"image registry.local/shop/web:v1 (sha256:abc) in spec.template.spec.containers[web].image is not allowed by ClusterImagePolicy shop-signed: no signatures found"} with input as {"images": {"checks": [check({})], "unmatched": [], "noMatchPolicy": "allow"}}
}

test_digest_not_repeated_when_the_image_names_it if {
	some msg in images.deny with input as {"images": {"checks": [check({"image": "registry.local/shop/web@sha256:abc"})], "unmatched": [], "noMatchPolicy": "allow"}}
	not contains(msg, "(sha256:abc)")
}

test_verified_allowed if {
	inp := {"images": {"checks": [check({"verified": true, "authority": "release", "reason": ""})], "unmatched": [], "noMatchPolicy": "allow"}}
	count(images.deny) == 0 with input as inp
	count(images.warn) == 0 with input as inp
}

test_warn_mode_warns if {
	inp := {"images": {"checks": [check({"mode": "warn"})], "unmatched": [], "noMatchPolicy": "allow"}}
	count(images.deny) == 0 with input as inp
	images.warn == {"image registry.local/shop/web:v1 (sha256:abc) in spec.template.spec.containers[web].image fails ClusterImagePolicy shop-signed (warn mode): no signatures found"} with input as inp
}

test_no_match_policies if {
	unmatched := [{"path": "spec.containers[x].image", "image": "docker.io/x:1"}]
	count(images.deny) == 0 with input as {"images": {"checks": [], "unmatched": unmatched, "noMatchPolicy": "allow"}}
	count(images.warn) == 1 with input as {"images": {"checks": [], "unmatched": unmatched, "noMatchPolicy": "warn"}}
	images.deny == {"image docker.io/x:1 in spec.containers[x].image matches no ClusterImagePolicy, and images without a policy are denied"} with input as {"images": {"checks": [], "unmatched": unmatched, "noMatchPolicy": "deny"}}
}
