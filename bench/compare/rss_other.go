//go:build !unix

package main

import "os"

// peakRSS is not available here: Windows reports a child's peak working
// set through an API this harness does not use.
func peakRSS(*os.ProcessState) (float64, bool) { return 0, false }
