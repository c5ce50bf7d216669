package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
)

// DownloadOptions are the inputs of `softmaxctl download`.
type DownloadOptions struct {
	IO    *IO
	Data  dataOptions
	Force bool
}

// NewCmdDownload builds `softmaxctl download`.
func NewCmdDownload(ios *IO, runF func(*cobra.Command, *DownloadOptions) error) *cobra.Command {
	opts := &DownloadOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "download",
		Short: "Download a dataset's files (four IDX files, or CIFAR-10's archive) and verify their checksums",
		Long: `Download the four IDX files of a dataset from its official locations (or only
from the --mirror base URLs given), verify each against the official MD5, and
keep it only if it matches. Files already present and valid are skipped.
A --mirror may be a folder: a copy of the files on this machine.

For Fashion-MNIST a file is also valid when its decompressed content has the
official SHA-256: a re-compressed copy of the official file (other gzip level
or tool) is the real dataset, though its MD5 differs. When Debian's
dataset-fashion-mnist package is installed (/usr/share/datasets/fashion-mnist)
and no --mirror is given, the files are copied from there first, and verified
like any download. MNIST and KMNIST are checked by MD5 only.`,
		Example: `  softmaxctl download
  softmaxctl download --dataset mnist --data ./mnist
  softmaxctl download --mirror https://example.org/fashion/ --mirror file:///srv/mnist/
  softmaxctl download --data ./fashion-mnist --mirror /media/usb/fashion-mnist`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runDownload(cmd, opts)
		},
	}
	opts.Data.addFlags(cmd, dataFlags{})
	cmd.Flags().BoolVar(&opts.Force, "force", false, "download again even if the files are present and valid")
	return cmd
}

func runDownload(cmd *cobra.Command, o *DownloadOptions) error {
	spec, dir, err := o.Data.resolve()
	if err != nil {
		return err
	}
	if err := o.Data.checkDownloadDir(spec, dir, true); err != nil {
		return err
	}
	if err := download(cmd.Context(), o.IO, spec, dir, o.Data.Mirrors, o.Force, false); err != nil {
		return fmt.Errorf("%w%s", err, offlineHint(spec, err, true, o.Data.Mirrors))
	}
	_, err = fmt.Fprintf(o.IO.Out, "%s is ready in %s (%s)\n", spec.Name, dir, strings.Join(fileNames(spec.Downloads()), ", "))
	return err
}

func fileNames(fs []dataset.File) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return names
}
