package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxNameRunes bounds the class names printed in row labels, so that a
// dataset with long class names cannot push the numbers off the screen.
const maxNameRunes = 16

// WriteTables writes two aligned plain-text tables to w: the per-class
// precision, recall, F1 and support (followed by the macro average and the
// accuracy), and the K×K confusion matrix with true classes as rows and
// predicted classes as columns.
//
// Rows are labelled with the class index and name ("0  T-shirt/top"), and the
// matrix columns with the class index alone, so that ten columns fit in 80
// characters and the row labels double as the legend of the columns. When a
// class name is just its index, as for MNIST digits, only the index is shown.
// Numbers are right-aligned; names longer than 16 characters are shortened.
func WriteTables(w io.Writer, c *Confusion, names []string) error {
	if c == nil {
		return errors.New("metrics: WriteTables: nil confusion matrix")
	}
	var buf bytes.Buffer
	labels := rowLabels(c.K, names)

	stats := c.PerClass(names)
	rows := [][]string{{"class", "precision", "recall", "f1", "support"}}
	var macro ClassStats
	for k, s := range stats {
		rows = append(rows, []string{labels[k], fixed(s.Precision), fixed(s.Recall), fixed(s.F1), itoa(s.Support)})
		macro.Precision += s.Precision
		macro.Recall += s.Recall
		macro.F1 += s.F1
	}
	// Divide the sums once, as MacroF1 does, so both print the same value.
	k := float64(c.K)
	macro.Precision, macro.Recall, macro.F1 = macro.Precision/k, macro.Recall/k, macro.F1/k
	total := itoa(c.Total())
	rows = append(rows,
		[]string{"macro avg", fixed(macro.Precision), fixed(macro.Recall), fixed(macro.F1), total},
		[]string{"accuracy", "", "", fixed(c.Accuracy()), total},
	)
	writeTable(&buf, rows)

	buf.WriteString("\nconfusion matrix (rows: true class, columns: predicted class)\n")
	rows = [][]string{{`true \ predicted`}}
	for p := 0; p < c.K; p++ {
		rows[0] = append(rows[0], strconv.Itoa(p))
	}
	for t := 0; t < c.K; t++ {
		row := []string{labels[t]}
		for p := 0; p < c.K; p++ {
			row = append(row, itoa(c.At(t, p)))
		}
		rows = append(rows, row)
	}
	writeTable(&buf, rows)

	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing metrics tables: %w", err)
	}
	return nil
}

// rowLabels returns "index  name" for each class, with indices right-aligned
// so that the names line up.
func rowLabels(k int, names []string) []string {
	width := len(strconv.Itoa(k - 1))
	labels := make([]string, k)
	for i := range labels {
		idx := strconv.Itoa(i)
		name := ""
		if i < len(names) {
			name = shorten(strings.Join(strings.Fields(names[i]), " "))
		}
		if name == "" || name == idx {
			labels[i] = idx
			continue
		}
		labels[i] = fmt.Sprintf("%*s  %s", width, idx, name)
	}
	return labels
}

// shorten truncates s to maxNameRunes runes, marking the cut with "...".
func shorten(s string) string {
	if utf8.RuneCountInString(s) <= maxNameRunes {
		return s
	}
	r := []rune(s)
	return string(r[:maxNameRunes-3]) + "..."
}

// writeTable writes rows with the first column left-aligned and the others
// right-aligned, columns separated by two spaces and no trailing blanks.
// text/tabwriter cannot mix alignments within one table, hence this helper.
func writeTable(buf *bytes.Buffer, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if i == 0 {
				line.WriteString(cell + pad)
			} else {
				line.WriteString("  " + pad + cell)
			}
		}
		buf.WriteString(strings.TrimRight(line.String(), " "))
		buf.WriteByte('\n')
	}
}

func fixed(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
