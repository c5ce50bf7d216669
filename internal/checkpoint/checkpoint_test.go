package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	noMetrics := tinyCheckpoint()
	noMetrics.Meta.Metrics = nil
	tests := []struct {
		name string
		c    *Checkpoint
	}{
		{"fashion-mnist 784x10", fashionCheckpoint()},
		{"tiny with awkward floats and names", tinyCheckpoint()},
		{"no metrics", noMetrics},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.safetensors")
			if err := Save(path, tt.c); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.c) {
				t.Errorf("Load(Save(c)) = %+v\nwant %+v", got.Meta, tt.c.Meta)
			}
			// DeepEqual compares floats with ==, which hides -0 versus 0.
			for i := range got.W {
				if math.Float32bits(got.W[i]) != math.Float32bits(tt.c.W[i]) {
					t.Fatalf("W[%d] = %v, want bit-identical %v", i, got.W[i], tt.c.W[i])
				}
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			// The exact mode follows the umask; atomicfile's tests check it.
			if perm := info.Mode().Perm(); perm&0o600 != 0o600 || perm&0o111 != 0 {
				t.Errorf("mode = %v, want readable and writable by its owner, not executable", perm)
			}
			assertDirHolds(t, dir, "model.safetensors")
		})
	}
}

func TestSaveOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	first, second := tinyCheckpoint(), fashionCheckpoint()
	for _, c := range []*Checkpoint{first, second} {
		if err := Save(path, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, second) {
		t.Error("Load after two Saves did not return the second checkpoint")
	}
}

func TestEncodeDeterministic(t *testing.T) {
	a, b := mustEncode(t, fashionCheckpoint()), mustEncode(t, fashionCheckpoint())
	if !bytes.Equal(a, b) {
		t.Error("two encodings of the same checkpoint differ")
	}
	// 784·10 + 10 float32 values plus a header of well under 1 KiB.
	if n := len(a); n < 31400 || n > 32*1024 {
		t.Errorf("encoded size = %d bytes, want about 31 KiB", n)
	}
}

// TestFileFormat parses an encoded checkpoint by hand, following the
// safetensors specification rather than the library, to make sure other
// implementations (Python's safetensors, for one) can read it.
func TestFileFormat(t *testing.T) {
	c := fashionCheckpoint()
	data := mustEncode(t, c)

	// 8 bytes: little-endian uint64 length of the JSON header.
	n := binary.LittleEndian.Uint64(data[:8])
	if n == 0 || 8+n > uint64(len(data)) {
		t.Fatalf("header length %d does not fit in %d bytes", n, len(data))
	}
	header := data[8 : 8+n]
	if header[0] != '{' {
		t.Errorf("header starts with %q, want '{'", header[0])
	}
	// Python's safetensors pads the header with spaces to 8-byte alignment;
	// the spec allows it and readers that mmap the data benefit from it.
	if (8+n)%8 != 0 {
		t.Errorf("data starts at offset %d, want a multiple of 8", 8+n)
	}
	body := data[8+n:]

	var entries map[string]json.RawMessage
	if err := json.Unmarshal(header, &entries); err != nil {
		t.Fatalf("header is not a JSON object: %v", err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range entries {
			if !yield(k) {
				return
			}
		}
	})
	if want := []string{"W", "__metadata__", "b"}; !slices.Equal(keys, want) {
		t.Fatalf("header keys = %q, want %q", keys, want)
	}

	type info struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets []uint64 `json:"data_offsets"`
	}
	tensors := []struct {
		name  string
		shape []int
		want  []float32
	}{
		{"W", []int{784, 10}, c.W},
		{"b", []int{10}, c.B},
	}
	var covered uint64
	for _, ts := range tensors {
		var ti info
		dec := json.NewDecoder(bytes.NewReader(entries[ts.name]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ti); err != nil {
			t.Fatalf("tensor %q: %v", ts.name, err)
		}
		if ti.DType != "F32" || !slices.Equal(ti.Shape, ts.shape) || len(ti.DataOffsets) != 2 {
			t.Fatalf("tensor %q = %+v, want dtype F32 and shape %v", ts.name, ti, ts.shape)
		}
		start, end := ti.DataOffsets[0], ti.DataOffsets[1]
		if end-start != uint64(4*len(ts.want)) || end > uint64(len(body)) {
			t.Fatalf("tensor %q data_offsets %v do not hold %d float32 in %d bytes", ts.name, ti.DataOffsets, len(ts.want), len(body))
		}
		covered += end - start
		for i, want := range ts.want {
			got := math.Float32frombits(binary.LittleEndian.Uint32(body[start+4*uint64(i):]))
			if got != want {
				t.Fatalf("%s[%d] = %v, want %v", ts.name, i, got, want)
			}
		}
	}
	if covered != uint64(len(body)) {
		t.Errorf("tensors cover %d of %d data bytes", covered, len(body))
	}

	// __metadata__ is a map of strings only; some values hold JSON.
	var meta map[string]string
	if err := json.Unmarshal(entries["__metadata__"], &meta); err != nil {
		t.Fatalf("__metadata__ is not a map of strings: %v", err)
	}
	want := map[string]string{
		"format": "softmaxctl", "format_version": "1", "dataset": "fashion-mnist",
		"input_shape": "[28,28]", "scaling": "pixel/255", "epochs": "10", "lr": "0.1",
		"batch_size": "128", "sigma": "0.01", "seed": "42", "version": "v0.1.0",
		"classes": `["T-shirt/top","Trouser","Pullover","Dress","Coat","Sandal","Shirt","Sneaker","Bag","Ankle boot"]`,
		"metrics": `{"train_acc":0.8555,"train_loss":0.4213,"val_acc":0.8412,"val_loss":0.4521}`,
	}
	if !reflect.DeepEqual(meta, want) {
		t.Errorf("__metadata__ = %q\nwant %q", meta, want)
	}
}

// assertDirHolds fails unless dir contains exactly the named entries, which
// catches temporary files left behind.
func assertDirHolds(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

func assertOneLine(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("error spans several lines: %q", err)
	}
}

func TestSaveFailures(t *testing.T) {
	nan := fashionCheckpoint()
	nan.W[42] = float32(math.NaN())
	old := []byte("previous model")

	tests := []struct {
		name string
		// setup prepares dir and returns the path to save to.
		setup   func(t *testing.T, dir string) string
		c       *Checkpoint
		wantErr []string
		isErr   error // if set, errors.Is(err, isErr) must hold
		// unprivileged: the case needs a user whom permissions restrain
		// (run as uid 65534 when root; Windows ignores the bits).
		unprivileged bool
	}{
		{
			name:    "empty path",
			setup:   func(t *testing.T, dir string) string { t.Chdir(dir); return "" },
			c:       tinyCheckpoint(),
			wantErr: []string{"cannot save model: no output file given"},
		},
		{
			name:    "missing directory",
			setup:   func(t *testing.T, dir string) string { return filepath.Join(dir, "nope", "model.safetensors") },
			c:       tinyCheckpoint(),
			wantErr: []string{"cannot save model to", "does not exist: create it first (mkdir -p"},
			isErr:   fs.ErrNotExist,
		},
		{
			name: "parent is a file",
			setup: func(t *testing.T, dir string) string {
				writeFile(t, filepath.Join(dir, "file"), old)
				return filepath.Join(dir, "file", "model.safetensors")
			},
			c:       tinyCheckpoint(),
			wantErr: []string{"cannot save model to", "not a directory"},
		},
		{
			name: "read-only directory",
			setup: func(t *testing.T, dir string) string {
				ro := filepath.Join(dir, "ro")
				if err := os.Mkdir(ro, 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(ro, "model.safetensors"), old)
				if err := os.Chmod(ro, 0o555); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(ro, 0o755) })
				if f, err := os.CreateTemp(ro, "probe"); err == nil {
					f.Close()
					os.Remove(f.Name())
					t.Fatal("could write in a read-only folder: the test would check nothing")
				}
				return filepath.Join(ro, "model.safetensors")
			},
			c:            tinyCheckpoint(),
			wantErr:      []string{"no permission to create files in"},
			isErr:        fs.ErrPermission,
			unprivileged: true,
		},
		{
			name: "path is a directory",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "model.safetensors")
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
				return p
			},
			c:       tinyCheckpoint(),
			wantErr: []string{"is a directory; pass a file name such as"},
		},
		{
			name: "NaN weights keep the old file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "model.safetensors")
				writeFile(t, p, old)
				return p
			},
			c:       nan,
			wantErr: []string{`has NaN in tensor "W" at [4 2]`, "retrain with a smaller learning rate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unprivileged && runtime.GOOS == "windows" {
				testenv.SkipByDesign(t, "a folder's permission bits do not stop writes on Windows")
			}
			if tt.unprivileged && !testenv.Unprivileged(t) {
				return
			}
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := snapshot(t, dir)

			err := Save(path, tt.c)
			if err == nil {
				t.Fatal("Save succeeded, want an error")
			}
			assertOneLine(t, err)
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.isErr)
			}
			if after := snapshot(t, dir); !reflect.DeepEqual(after, before) {
				t.Errorf("Save changed the directory tree:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

// snapshot returns every path under dir with the contents of regular files,
// so a test can check that a failed Save changed nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		content := "<dir>"
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			content = string(b)
		}
		files[p] = content
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Checkpoint)
		want   string
	}{
		{"In does not match input_shape", func(c *Checkpoint) { c.In = 5 }, "In×Out is 5×3, but input_shape [2 2] and 3 classes need 4×3"},
		{"W too short", func(c *Checkpoint) { c.W = c.W[:11] }, "W has 11 values, want In×Out = 12"},
		{"b too long", func(c *Checkpoint) { c.B = append(c.B, 0) }, "b has 4 values, want Out = 3"},
		{"Inf bias", func(c *Checkpoint) { c.B[1] = float32(math.Inf(-1)) }, `has -Inf in tensor "b" at [1]`},
		{"one class", func(c *Checkpoint) { c.Meta.Classes = c.Meta.Classes[:1] }, `"classes" has 1 entries, want at least 2`},
		{"duplicate class", func(c *Checkpoint) { c.Meta.Classes[2] = "a" }, `"classes" names class "a" twice, at indices 0 and 2`},
		{"empty class name", func(c *Checkpoint) { c.Meta.Classes[1] = "" }, `"classes" has an empty name at index 1`},
		{"no dataset", func(c *Checkpoint) { c.Meta.Dataset = "" }, `"dataset" is empty`},
		{"no scaling", func(c *Checkpoint) { c.Meta.Scaling = "" }, `"scaling" is empty`},
		{"zero dimension", func(c *Checkpoint) { c.Meta.InputShape = []int{2, 0} }, `"input_shape" [2 0] has a dimension that is not positive`},
		{"negative epochs", func(c *Checkpoint) { c.Meta.Epochs = -1 }, "must not be negative"},
		{"NaN lr", func(c *Checkpoint) { c.Meta.LR = math.NaN() }, "must be finite"},
		{"NaN metric", func(c *Checkpoint) { c.Meta.Metrics = map[string]float64{"val_loss": math.NaN()} }, `metric "val_loss" is NaN`},
		{"class with an escape", func(c *Checkpoint) { c.Meta.Classes[1] = "\x1b]0;x\a" }, `classes[1] "\x1b]0;x\a" holds the control character U+001B`},
		{"dataset not UTF-8", func(c *Checkpoint) { c.Meta.Dataset = "mn\x9bist" }, `dataset "mn\x9bist" is not valid UTF-8`},
		{"dataset with a bidi override", func(c *Checkpoint) { c.Meta.Dataset = "\u202emnist" }, "U+202E"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tinyCheckpoint()
			tt.modify(c)
			var buf bytes.Buffer
			err := Encode(&buf, c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Encode() error = %v, want one containing %q", err, tt.want)
			}
			assertOneLine(t, err)
			if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes before failing", buf.Len())
			}
		})
	}
	if err := Encode(&bytes.Buffer{}, nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
}

// corruptCase is an input that Decode and Load must refuse with a message
// containing every string in want.
type corruptCase struct {
	name string
	data []byte
	want []string
}

func corruptCases(t testing.TB) []corruptCase {
	valid := mustEncode(t, tinyCheckpoint())
	withMeta := func(edit func(m map[string]string)) []byte {
		m := validMeta(t)
		edit(m)
		return build(t, validTensors(), m)
	}
	withTensors := func(edit func(ts map[string]tensor)) []byte {
		ts := validTensors()
		edit(ts)
		return build(t, ts, validMeta(t))
	}
	withFloat := func(name string, i int, v float64) []byte {
		return withTensors(func(ts map[string]tensor) {
			d := slices.Clone(ts[name].data)
			binary.LittleEndian.PutUint32(d[4*i:], math.Float32bits(float32(v)))
			ts[name] = tensor{safetensors.F32, ts[name].shape, d}
		})
	}
	zeros := make([]byte, 60) // enough data for W [4,3] and b [3] as F32
	hugeHeader := "{}" + strings.Repeat(" ", 2<<20)
	const wb = `"W":{"dtype":"F32","shape":[4,3],"data_offsets":[0,48]},"b":{"dtype":"F32","shape":[3],"data_offsets":[48,60]}`

	return []corruptCase{
		// Not safetensors at all.
		{"empty", nil, []string{"is not a safetensors file: it is only 0 bytes long"}},
		{"text file", []byte("this is not a model\n"), []string{"is not a safetensors file, or is truncated: its header length is"}},
		{"truncated header", valid[:40], []string{"is not a safetensors file, or is truncated"}},
		{"header is a JSON array", raw("[1,2,3] ", nil), []string{"its header is not a JSON object"}},
		{"header too large", raw(hugeHeader, nil), []string{"-byte safetensors header, more than the 1048576 bytes allowed"}},

		// Safetensors framing present but broken: the library must catch
		// every inconsistency between data_offsets, shapes and the data.
		{"truncated data", valid[:len(valid)-4], []string{"is corrupt or truncated (safetensors: metadata incomplete buffer)"}},
		{"trailing bytes", append(slices.Clone(valid), 0, 0, 0, 0), []string{"is corrupt or truncated (safetensors: metadata incomplete buffer)"}},
		{"invalid JSON", raw(`{"W":{`, nil), []string{"is corrupt or truncated (safetensors: invalid header deserialization"}},
		{"offsets past the end", raw(`{"W":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}`, zeros), []string{"metadata incomplete buffer"}},
		{"overlapping tensors", raw(`{"W":{"dtype":"F32","shape":[4,3],"data_offsets":[0,48]},"b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}`, zeros[:48]), []string{"invalid metadata offset"}},
		{"gap between tensors", raw(`{"W":{"dtype":"F32","shape":[4,3],"data_offsets":[0,48]},"b":{"dtype":"F32","shape":[2],"data_offsets":[52,60]}}`, zeros), []string{"invalid metadata offset"}},
		{"end before start", raw(`{"W":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, nil), []string{"invalid metadata offset"}},
		{"offsets disagree with shape", raw(`{"W":{"dtype":"F32","shape":[4,4],"data_offsets":[0,48]},"b":{"dtype":"F32","shape":[3],"data_offsets":[48,60]}}`, zeros), []string{"info data offsets mismatch"}},
		{"shape overflows uint64", raw(`{"W":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}`, nil), []string{"multiplication overflow"}},
		{"offset beyond uint64", raw(`{"W":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551620]}}`, nil), []string{`invalid "data_offsets" value`}},
		{"metadata value not a string", raw(`{"__metadata__":{"format":1},`+wb+`}`, zeros), []string{"expected string type"}},
		{"unknown dtype", raw(`{"W":{"dtype":"F128","shape":[4,3],"data_offsets":[0,48]}}`, zeros[:48]), []string{`invalid DType string value "F128"`}},

		// Well-formed safetensors that is not a softmaxctl model.
		{"no tensors", build(t, nil, validMeta(t)), []string{`has no tensor "W" (it has none)`}},
		{"missing W", withTensors(func(ts map[string]tensor) { delete(ts, "W") }), []string{`has no tensor "W" (it has ["b"]), so it is not a softmaxctl model`}},
		{"missing b", withTensors(func(ts map[string]tensor) { delete(ts, "b") }), []string{`has no tensor "b" (it has ["W"])`}},
		{"extra tensor", withTensors(func(ts map[string]tensor) { ts["W2"] = tensor{safetensors.F32, []uint64{3, 3}, nil} }),
			[]string{`has tensors ["W" "W2" "b"], but a softmaxctl model has only "W" and "b"`}},
		{"W is F64", withTensors(func(ts map[string]tensor) { ts["W"] = tensor{safetensors.F64, []uint64{4, 3}, nil} }),
			[]string{`has tensor "W" of dtype F64, want F32`, "save the tensors as float32"}},
		{"b is F16", withTensors(func(ts map[string]tensor) { ts["b"] = tensor{safetensors.F16, []uint64{3}, nil} }),
			[]string{`has tensor "b" of dtype F16, want F32`}},
		{"W transposed", withTensors(func(ts map[string]tensor) { ts["W"] = tensor{safetensors.F32, []uint64{3, 4}, nil} }),
			[]string{`has tensor "W" of shape [3 4], want [4 3] (from input_shape [2 2] and 3 classes)`}},
		{"W flattened", withTensors(func(ts map[string]tensor) { ts["W"] = tensor{safetensors.F32, []uint64{12}, nil} }),
			[]string{`has tensor "W" of shape [12], want [4 3]`}},
		{"b wrong length", withTensors(func(ts map[string]tensor) { ts["b"] = tensor{safetensors.F32, []uint64{4}, nil} }),
			[]string{`has tensor "b" of shape [4], want [3] (from 3 classes)`}},
		{"classes disagree with W", withMeta(func(m map[string]string) { m["classes"] = `["a","b","c","d"]` }),
			[]string{`has tensor "W" of shape [4 3], want [4 4] (from input_shape [2 2] and 4 classes)`}},
		{"input_shape disagrees with W", withMeta(func(m map[string]string) { m["input_shape"] = "[3,2]" }),
			[]string{`has tensor "W" of shape [4 3], want [6 3]`}},

		// Metadata.
		{"no metadata", build(t, validTensors(), nil), []string{"has no __metadata__, so it was not written by softmaxctl"}},
		{"no format", withMeta(func(m map[string]string) { delete(m, "format") }), []string{`has no "format" in its __metadata__`}},
		{"other format", withMeta(func(m map[string]string) { m["format"] = "pt" }), []string{`has __metadata__ "format" = "pt", want "softmaxctl"`}},
		{"newer format version", withMeta(func(m map[string]string) { m["format_version"] = "2" }),
			[]string{`has format version "2", but this softmaxctl reads only version 1`, "upgrade softmaxctl"}},
		{"no dataset", withMeta(func(m map[string]string) { delete(m, "dataset") }), []string{`has no "dataset" in its __metadata__`}},
		{"no classes", withMeta(func(m map[string]string) { delete(m, "classes") }), []string{`has no "classes" in its __metadata__`}},
		{"no input_shape", withMeta(func(m map[string]string) { delete(m, "input_shape") }), []string{`has no "input_shape"`}},
		{"no scaling", withMeta(func(m map[string]string) { delete(m, "scaling") }), []string{`has no "scaling"`}},
		{"empty dataset", withMeta(func(m map[string]string) { m["dataset"] = "" }), []string{`has invalid __metadata__: "dataset" is empty`}},
		{"classes not JSON", withMeta(func(m map[string]string) { m["classes"] = "a,b\nc" }),
			[]string{`has invalid __metadata__ "classes" = "a,b\nc", want a JSON array of class names`}},
		{"one class", withMeta(func(m map[string]string) { m["classes"] = `["a"]` }), []string{`"classes" has 1 entries, want at least 2`}},
		{"duplicate classes", withMeta(func(m map[string]string) { m["classes"] = `["a","b","a"]` }), []string{`names class "a" twice`}},
		{"input_shape not JSON", withMeta(func(m map[string]string) { m["input_shape"] = "28x28" }),
			[]string{`has invalid __metadata__ "input_shape" = "28x28", want a JSON array of dimensions`}},
		{"input_shape negative", withMeta(func(m map[string]string) { m["input_shape"] = "[-2,-2]" }), []string{"has a dimension that is not positive"}},
		{"input_shape huge", withMeta(func(m map[string]string) { m["input_shape"] = "[100000,100000,100000]" }), []string{"has more than 16777216 elements"}},
		{"negative epochs", withMeta(func(m map[string]string) { m["epochs"] = "-1" }), []string{`"epochs" = "-1", want a non-negative integer`}},
		{"lr not a number", withMeta(func(m map[string]string) { m["lr"] = "fast" }), []string{`"lr" = "fast", want a finite number`}},
		{"sigma NaN", withMeta(func(m map[string]string) { m["sigma"] = "NaN" }), []string{`"sigma" = "NaN", want a finite number`}},
		{"seed not an integer", withMeta(func(m map[string]string) { m["seed"] = "1.5" }), []string{`"seed" = "1.5", want a 64-bit integer`}},
		{"metrics not an object", withMeta(func(m map[string]string) { m["metrics"] = "[0.9]" }), []string{`"metrics" = "[0.9]", want a JSON object of numbers`}},

		// Text that would reach a terminal: no escape sequences, line
		// breaks or bidi overrides (issue 8 item 15).
		{"class sets the terminal title", withMeta(func(m map[string]string) { m["classes"] = `["a","\u001b]0;pwned\u0007","c"]` }),
			[]string{`classes[1] "\x1b]0;pwned\a" holds the control character U+001B`}},
		{"class clears the screen", withMeta(func(m map[string]string) { m["classes"] = `["\u001b[2J\u001b[H","b","c"]` }),
			[]string{`classes[0] "\x1b[2J\x1b[H" holds the control character U+001B`}},
		{"class forges a line", withMeta(func(m map[string]string) { m["classes"] = `["a","b","c\nd.png  Bag 99%"]` }),
			[]string{`classes[2] "c\nd.png  Bag 99%" holds the control character U+000A`}},
		{"class with DEL", withMeta(func(m map[string]string) { m["classes"] = `["a\u007f","b","c"]` }), []string{"U+007F"}},
		{"class with C1 CSI", withMeta(func(m map[string]string) { m["classes"] = `["a","\u009b2J","c"]` }), []string{"classes[1]", "U+009B"}},
		{"class with C1 NEL", withMeta(func(m map[string]string) { m["classes"] = `["a","b","\u0085"]` }), []string{"U+0085"}},
		{"class with a bidi override", withMeta(func(m map[string]string) { m["classes"] = `["a","b","gab.\u202egnp"]` }), []string{`classes[2] "gab.\u202egnp" holds the control character U+202E`}},
		{"class with a bidi isolate", withMeta(func(m map[string]string) { m["classes"] = `["a","\u2066b\u2069","c"]` }), []string{"U+2066"}},
		{"class with a line separator", withMeta(func(m map[string]string) { m["classes"] = `["a","b\u2028","c"]` }), []string{"U+2028"}},
		{"dataset with an escape", withMeta(func(m map[string]string) { m["dataset"] = "mnist\x1b[31m" }), []string{`dataset "mnist\x1b[31m" holds the control character U+001B`}},
		{"scaling with a bell", withMeta(func(m map[string]string) { m["scaling"] = "pixel/255\a" }), []string{"scaling", "U+0007"}},
		{"version with a bidi override", withMeta(func(m map[string]string) { m["version"] = "v1\u202e" }), []string{"version", "U+202E"}},
		{"metric name with an escape", withMeta(func(m map[string]string) { m["metrics"] = `{"acc\u001b[2J":0.5}` }), []string{"metrics name", "U+001B"}},

		// Weights.
		{"NaN weight", withFloat("W", 5, math.NaN()), []string{`has NaN in tensor "W" at [1 2]: training diverged; retrain with a smaller learning rate`}},
		{"Inf bias", withFloat("b", 2, math.Inf(1)), []string{`has +Inf in tensor "b" at [2]`}},
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range corruptCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode(tc.data)
			if err == nil {
				t.Fatalf("Decode succeeded with %+v, want an error", c.Meta)
			}
			assertOneLine(t, err)
			msg := err.Error()
			if !strings.HasPrefix(msg, "checkpoint ") {
				t.Errorf("error %q does not start with \"checkpoint \"", msg)
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range corruptCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".safetensors")
			writeFile(t, path, tc.data)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			assertOneLine(t, err)
			msg := err.Error()
			if prefix := "model file " + path + " "; !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "model.safetensors")
	spaced := filepath.Join(dir, "my models", "it's.safetensors")
	big := filepath.Join(dir, "big.safetensors")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: Load must refuse it by size without reading it.
	if err := f.Truncate(maxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()

	tests := []struct {
		name  string
		path  string
		want  string
		isErr error
	}{
		{"missing", missing, "model file " + missing + " not found", fs.ErrNotExist},
		{"missing, path needing quotes", spaced,
			"model file '" + dir + "/my models/it'\\''s.safetensors' not found",
			fs.ErrNotExist},
		{"directory", dir, "model file " + dir + " is a directory: pass the path of a .safetensors file", nil},
		{"too large", big, "model file " + big + " is larger than 64 MiB, far more than a softmaxctl model (about 31 KiB): pass a model written by `softmaxctl train`", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if err.Error() != tt.want {
				t.Errorf("Load() error =\n%s\nwant\n%s", err, tt.want)
			}
			assertOneLine(t, err)
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.isErr)
			}
		})
	}
}

// TestDecodeAcceptsOptionalMetadata checks that a file written by hand, with
// only the required metadata and unknown extra keys, loads with zero values.
func TestDecodeAcceptsOptionalMetadata(t *testing.T) {
	meta := map[string]string{
		"format": "softmaxctl", "dataset": "toy", "classes": `["a","b","c"]`,
		"input_shape": "[4]", "scaling": "pixel/255", "written_by": "numpy",
	}
	c, err := Decode(build(t, validTensors(), meta))
	if err != nil {
		t.Fatal(err)
	}
	want := Meta{Dataset: "toy", Classes: []string{"a", "b", "c"}, InputShape: []int{4}, Scaling: "pixel/255"}
	if !reflect.DeepEqual(c.Meta, want) || c.In != 4 || c.Out != 3 {
		t.Errorf("Decode() = %+v (In %d, Out %d), want %+v (In 4, Out 3)", c.Meta, c.In, c.Out, want)
	}
}

func TestQuotePath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"model.safetensors", "model.safetensors"},
		{"/tmp/run-1/model_v2.safetensors", "/tmp/run-1/model_v2.safetensors"},
		{"my model.safetensors", "'my model.safetensors'"},
		{"it's", `'it'\''s'`},
		{"a\nb", `"a\nb"`},
		{"", "''"},
	}
	for _, tt := range tests {
		if got := quotePath(tt.path); got != tt.want {
			t.Errorf("quotePath(%q) = %s, want %s", tt.path, got, tt.want)
		}
	}
}
