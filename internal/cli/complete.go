package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// completeValues makes the shell complete flag's value from values.
func completeValues(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, v := range values {
			if strings.HasPrefix(v, prefix) {
				out = append(out, v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
}

// completeFiles makes the shell complete flag's value with file names of
// the given extensions (without the dot).
func completeFiles(cmd *cobra.Command, flag string, exts ...string) {
	_ = cmd.MarkFlagFilename(flag, exts...)
}

// completeFolders makes the shell complete flag's value with folders.
func completeFolders(cmd *cobra.Command, flag string) {
	_ = cmd.MarkFlagDirname(flag)
}
