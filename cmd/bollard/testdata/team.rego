package bollard.team

deny contains msg if {
	not input.labels.team
	msg := sprintf("%s %s has no team label", [input.kind, input.name])
}
