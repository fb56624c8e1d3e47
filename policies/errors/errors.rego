# Errors found while reading the object or the policies' sources deny: the gate fails closed.
package bollard.errors

deny contains msg if {
	some e in input.errors
	msg := e
}
