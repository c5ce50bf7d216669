//go:build !unix

package main

// ignoreSIGPIPE has nothing to do where writes to a closed pipe already
// return an error.
func ignoreSIGPIPE() {}
