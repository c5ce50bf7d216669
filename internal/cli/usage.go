package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagError turns pflag's errors into one plain sentence with the flag's
// name, a suggestion for a misspelt flag, and where to find help.
func flagError(c *cobra.Command, err error) error {
	help := fmt.Sprintf("(see '%s --help')", c.CommandPath())
	var (
		notExist *pflag.NotExistError
		invalid  *pflag.InvalidValueError
		required *pflag.ValueRequiredError
	)
	switch {
	case errors.As(err, &notExist):
		name := notExist.GetSpecifiedName()
		if short := notExist.GetSpecifiedShortnames(); short == name {
			return usagef("unknown flag -%s %s", name, help)
		} else if short != "" {
			return usagef("unknown flag -%s in -%s %s", name, short, help)
		}
		if s := suggestFlag(c, name); s != "" {
			return usagef("unknown flag --%s: did you mean --%s? %s", name, s, help)
		}
		return usagef("unknown flag --%s %s", name, help)
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		return usagef("--%s %q is not %s %s", f.Name, invalid.GetValue(), valueKind(f.Value.Type()), help)
	case errors.As(err, &required):
		return usagef("--%s needs a value %s", required.GetFlag().Name, help)
	}
	return usagef("%v %s", err, help)
}

// valueKind says in words what a flag of a pflag type takes.
func valueKind(typ string) string {
	switch {
	case strings.HasPrefix(typ, "float"):
		return "a number"
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"):
		return "a whole number"
	case typ == "bool":
		return "true or false"
	case typ == "duration":
		return "a duration such as 30s or 2m"
	}
	return "a valid " + typ
}

// suggestFlag returns the flag of c closest to the misspelt name: one
// that starts with it or that it starts with (--epoch, --epochss), or one
// within two edits; "" if none is close.
func suggestFlag(c *cobra.Command, name string) string {
	best, bestD := "", 3
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(name, f.Name)
		if strings.HasPrefix(f.Name, name) || strings.HasPrefix(name, f.Name) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unknownCommand is the root's run function: with no arguments it shows
// the help; with one it is a command name that does not exist, reported
// in one line with the closest names (cobra's own message spans lines).
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return c.Help()
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += ": did you mean " + strings.Join(s, " or ") + "?"
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	slices.Sort(names)
	return usagef("%s (commands: %s; see 'softmaxctl --help')", msg, strings.Join(names, ", "))
}

// noArgs refuses arguments for a command that takes none, in words.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q: options are flags, such as --data DIR (see '%s --help')", c.Name(), args[0], c.CommandPath())
	}
	return nil
}
