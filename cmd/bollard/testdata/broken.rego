package bollard.broken

deny contains msg if {
