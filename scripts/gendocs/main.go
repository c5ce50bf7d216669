// Command gendocs writes softmaxctl's command reference from the commands'
// own help: docs/reference/*.md and docs/man/*.1 (make docs). A test in
// internal/cli fails when the committed pages are not what this writes.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/softmaxctl/softmaxctl/internal/cli"
)

func main() {
	md, man := filepath.Join("docs", "reference"), filepath.Join("docs", "man")
	for _, d := range []string{md, man} {
		// Stale pages of a removed command must go too.
		if err := os.RemoveAll(d); err != nil {
			fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
			os.Exit(1)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
			os.Exit(1)
		}
	}
	if err := cli.WriteReference(md, man); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
}
