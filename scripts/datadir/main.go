// Command datadir prints the folder softmaxctl train reads Fashion-MNIST
// from (--data DIR when given, else $SOFTMAXCTL_DATA/fashion-mnist, else
// the user cache), and fails with one line when its four files are not
// all there: make gpu-bundle runs it before the long build.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
)

func main() {
	data := flag.String("data", "", "the folder given to train --data (default: where train looks)")
	flag.Parse()
	const name = "fashion-mnist"
	root, err := dataset.DefaultRoot(os.Getenv, os.UserCacheDir)
	if *data != "" {
		root, err = "", nil
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "datadir: %v\n", err)
		os.Exit(1)
	}
	dir, err := dataset.ResolveDir(*data, root, name)
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "datadir: %v\n", err)
		os.Exit(1)
	}
	spec, err := dataset.Lookup(name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "datadir: %v\n", err)
		os.Exit(1)
	}
	if missing := dataset.Missing(dir, spec); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "datadir: no Fashion-MNIST in %s (missing %s): run `go run ./cmd/softmaxctl download`, or give DATA=DIR\n",
			dir, strings.Join(missing, ", "))
		os.Exit(1)
	}
	fmt.Println(dir)
}
