package metrics

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var fashionNames = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// fashionConfusion is a plausible Fashion-MNIST test-set result of a softmax
// regression (1000 examples per class, 84.9% accuracy), with four-digit
// counts so the golden file shows how wide numbers align.
func fashionConfusion() *Confusion {
	return fromRows([][]int64{
		{812, 4, 14, 48, 5, 1, 106, 0, 10, 0},
		{3, 958, 3, 26, 5, 0, 3, 0, 2, 0},
		{20, 4, 738, 11, 132, 0, 86, 0, 9, 0},
		{29, 13, 13, 865, 34, 0, 41, 0, 5, 0},
		{0, 1, 110, 36, 785, 0, 63, 0, 5, 0},
		{0, 0, 0, 1, 0, 921, 0, 47, 8, 23},
		{140, 2, 123, 41, 101, 0, 572, 0, 21, 0},
		{0, 0, 0, 0, 0, 31, 0, 944, 0, 25},
		{5, 1, 6, 10, 3, 5, 19, 5, 946, 0},
		{0, 0, 0, 0, 0, 12, 1, 40, 0, 947},
	})
}

func TestWriteTablesGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTables(&buf, fashionConfusion(), fashionNames); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "fashion_tables.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run `go test -update` to create it)", err)
	}
	if got := buf.String(); got != string(want) {
		t.Errorf("WriteTables output differs from %s (run `go test -update` after checking the change)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

func TestWriteTables(t *testing.T) {
	tests := []struct {
		name  string
		c     *Confusion
		names []string
		want  string
	}{
		{
			// Names equal to the index (MNIST digits) are not repeated.
			name:  "digit names",
			c:     fromRows([][]int64{{3, 1}, {2, 4}}),
			names: []string{"0", "1"},
			want: `class      precision  recall      f1  support
0             0.6000  0.7500  0.6667        4
1             0.8000  0.6667  0.7273        6
macro avg     0.7000  0.7083  0.6970       10
accuracy                      0.7000       10

confusion matrix (rows: true class, columns: predicted class)
true \ predicted  0  1
0                 3  1
1                 2  4
`,
		},
		{
			// Long names are shortened and blank ones replaced by the index;
			// missing names fall back to the index too.
			name:  "long, blank and missing names",
			c:     fromRows([][]int64{{10, 0, 0}, {0, 0, 0}, {0, 0, 5}}),
			names: []string{"a very long class name indeed", " "},
			want: `class                precision  recall      f1  support
0  a very long c...     1.0000  1.0000  1.0000       10
1                       0.0000  0.0000  0.0000        0
2                       1.0000  1.0000  1.0000        5
macro avg               0.6667  0.6667  0.6667       15
accuracy                                1.0000       15

confusion matrix (rows: true class, columns: predicted class)
true \ predicted      0  1  2
0  a very long c...  10  0  0
1                     0  0  0
2                     0  0  5
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTables(&buf, tt.c, tt.names); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("WriteTables() =\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestWriteTablesErrors(t *testing.T) {
	errDisk := errors.New("disk full")
	tests := []struct {
		name    string
		w       *failWriter
		c       *Confusion
		wantErr string
	}{
		{"write error is wrapped", &failWriter{err: errDisk}, NewConfusion(2), "writing metrics tables: disk full"},
		{"nil confusion", &failWriter{}, nil, "nil confusion matrix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteTables(tt.w, tt.c, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("WriteTables() error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

type failWriter struct{ err error }

func (w *failWriter) Write(p []byte) (int, error) { return 0, w.err }
