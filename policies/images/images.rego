# Signed images. Go resolves each image to its digest and verifies it against the keys of every
# ClusterImagePolicy that matches it (webhook/imagesig); this decides. An image in enforce mode
# that does not verify is denied; in warn mode it is admitted with a warning. Images no policy
# matches follow the no-match policy (allow, warn or deny).
package bollard.images

deny contains msg if {
	some c in input.images.checks
	not c.verified
	c.mode != "warn"
	msg := sprintf("image %s%s in %s is not allowed by ClusterImagePolicy %s: %s", [c.image, digest(c), c.path, c.policy, c.reason])
}

warn contains msg if {
	some c in input.images.checks
	not c.verified
	c.mode == "warn"
	msg := sprintf("image %s%s in %s fails ClusterImagePolicy %s (warn mode): %s", [c.image, digest(c), c.path, c.policy, c.reason])
}

deny contains msg if {
	input.images.noMatchPolicy == "deny"
	some u in input.images.unmatched
	msg := sprintf("image %s in %s matches no ClusterImagePolicy, and images without a policy are denied", [u.image, u.path])
}

warn contains msg if {
	input.images.noMatchPolicy == "warn"
	some u in input.images.unmatched
	msg := sprintf("image %s in %s matches no ClusterImagePolicy", [u.image, u.path])
}

# The digest that was (or could not be) verified, when the image names only a tag.
digest(c) := sprintf(" (%s)", [c.digest]) if {
	c.digest != ""
	not contains(c.image, c.digest)
} else := ""
