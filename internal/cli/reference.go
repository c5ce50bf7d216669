package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// referenceDate is the date the man pages carry. It is fixed, so that the
// pages are the same wherever they are generated and CI can check that
// the committed ones are current; it is not a release date.
var referenceDate = time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)

// WriteReference writes the command reference, generated from the
// commands' own help (cobra/doc): one Markdown page per command into md
// and one man page (section 1) per command into man. Both folders must
// exist; files of the same names are replaced. `make docs` runs it.
func WriteReference(md, man string) error {
	root := NewRootCmd(&IO{})
	root.DisableAutoGenTag = true
	// No "Auto generated on <date>" line: the pages must be the same
	// wherever they are generated.
	visit(root, func(c *cobra.Command) { c.DisableAutoGenTag = true })
	link := func(name string) string { return name }
	front := func(string) string { return "" }
	if err := doc.GenMarkdownTreeCustom(root, md, front, link); err != nil {
		return fmt.Errorf("write the Markdown reference: %w", err)
	}
	header := &doc.GenManHeader{Title: "SOFTMAXCTL", Section: "1", Source: "softmaxctl", Manual: "softmaxctl manual", Date: &referenceDate}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("write the man pages: %w", err)
	}
	return tidyReference(md)
}

// visit calls f on c and every command below it.
func visit(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		visit(sub, f)
	}
}

// tidyReference drops the trailing blank lines cobra/doc leaves at the end
// of each Markdown page, so that the pages pass the repository's
// whitespace checks as they are generated.
func tidyReference(dir string) error {
	pages, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return err
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		tidy := strings.TrimRight(string(b), "\n") + "\n"
		if tidy != string(b) {
			if err := os.WriteFile(p, []byte(tidy), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
