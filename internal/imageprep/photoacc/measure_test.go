package photoacc

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/imageprep/phototest"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// shapesSet is n images of phototest.Shapes as a labelled Set.
func shapesSet(n int, seed uint64) *dataset.Set {
	pix, labels := phototest.Shapes(n, seed)
	return &dataset.Set{Pix: pix, Labels: labels, N: n, Rows: phototest.Side, Cols: phototest.Side,
		Classes: len(phototest.ShapeClasses)}
}

// TestMeasureShapes measures a model of phototest's shapes, which needs no
// real data: the figures are consistent, the same however many workers
// prepare the photos, and clean photos are read as the plain images are
// (a pipeline that fed the model the wrong pixels would agree by chance).
func TestMeasureShapes(t *testing.T) {
	ctx := context.Background()
	m, _, err := TrainDefault(ctx, shapesSet(1000, 1), shapesSet(200, 2))
	if err != nil {
		t.Fatal(err)
	}
	test := shapesSet(40, 3)
	conds := []phototest.Condition{{Name: "clean"}, phototest.Phone}
	var runs [2][]Figures
	for k, workers := range []int{1, 2} {
		var seen []string
		runs[k], err = Measure(ctx, m, test, test.N, conds, Options{Workers: workers,
			OnCondition: func(f Figures) { seen = append(seen, f.Condition) }})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != len(conds) {
			t.Errorf("OnCondition saw %v, want every condition", seen)
		}
	}
	for i, f := range runs[0] {
		if f != runs[1][i] {
			t.Errorf("%s: one worker gives %+v, two %+v", f.Condition, f, runs[1][i])
		}
		if f.Condition != conds[i].Name || f.N != test.N {
			t.Errorf("figures %d are of %q, %d images; want %q, %d", i, f.Condition, f.N, conds[i].Name, test.N)
		}
		if f.PlainCorrect != runs[0][0].PlainCorrect {
			t.Errorf("%s: %d plain images correct, %d under %s: the plain images do not depend on the condition", f.Condition, f.PlainCorrect, runs[0][0].PlainCorrect, runs[0][0].Condition)
		}
		for _, part := range []int{f.Blank, f.Small, f.Uneven, f.LowProb} {
			if part > f.Unsure {
				t.Errorf("%s: a reason counts %d, more than the %d unsure", f.Condition, part, f.Unsure)
			}
		}
		if f.Unsure > f.N || f.SureCorrect > f.N-f.Unsure || f.SureCorrect > f.PhotoCorrect {
			t.Errorf("%s: inconsistent counts %+v", f.Condition, f)
		}
		t.Logf("%s: plain %.3f, photo %.3f, agreement %.3f, unsure %.3f", f.Condition, f.PlainAcc(), f.PhotoAcc(), f.Agreement(), f.UnsureShare())
	}
	if a := runs[0][0].Agreement(); a < 0.9 {
		t.Errorf("clean photos agree with the plain images on %.3f, want at least 0.9", a)
	}
}

func TestMeasureRefuses(t *testing.T) {
	m, err := model.New(784, 10, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	wide, err := model.New(3*784, 10, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	set := shapesSet(5, 1)
	unlabelled := *set
	unlabelled.Labels = nil
	small := *set
	small.Rows, small.Cols = 14, 56
	for _, tt := range []struct {
		name string
		m    *model.Model
		set  *dataset.Set
		n    int
		want string
	}{
		{"no images", m, set, 0, "asked for 0"},
		{"more images than the set", m, set, 6, "asked for 6"},
		{"no labels", m, &unlabelled, 5, "labelled"},
		{"not 28×28", m, &small, 5, "28×28"},
		{"a model of colour images", wide, set, 5, "model takes 2352 inputs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Measure(context.Background(), tt.m, tt.set, tt.n, phototest.Conditions()[:1], Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	var b strings.Builder
	figs := []Figures{
		{Condition: "clean", N: 4, PlainCorrect: 3, PhotoCorrect: 2, Agree: 3, Unsure: 1, SureCorrect: 2},
		{Condition: "all unsure", N: 2, Unsure: 2},
	}
	if err := Markdown(&b, figs); err != nil {
		t.Fatal(err)
	}
	want := `| condition | plain acc | photo acc | agreement | unsure | photo acc, sure only |
|---|---:|---:|---:|---:|---:|
| clean | 0.750 | 0.500 | 0.750 | 0.250 | 0.667 |
| all unsure | 0.000 | 0.000 | 0.000 | 1.000 | 0.000 |
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestLoadModel(t *testing.T) {
	dir := t.TempDir()
	classes := make([]string, 10)
	for i := range classes {
		classes[i] = string(rune('a' + i))
	}
	save := func(name string, meta checkpoint.Meta, extra map[string][]float32) string {
		m, err := model.New(784, 10, 0.01, 1)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		ck := &checkpoint.Checkpoint{W: m.W, B: m.B, In: 784, Out: 10, Meta: meta, Extra: extra}
		if err := checkpoint.Save(path, ck); err != nil {
			t.Fatal(err)
		}
		return path
	}
	meta := func(dataset string, prep *checkpoint.Preprocess) checkpoint.Meta {
		return checkpoint.Meta{Dataset: dataset, Classes: classes, InputShape: []int{28, 28}, Scaling: "pixel/255", Preprocess: prep}
	}
	ones := make([]float32, 784)
	for i := range ones {
		ones[i] = 1
	}
	for _, tt := range []struct {
		name    string
		path    string
		box     int
		norm    bool
		wantErr string
	}{
		{"fashion-mnist", save("f.safetensors", meta("fashion-mnist", nil), nil), 0, false, ""},
		{"mnist, from before preprocess was recorded", save("m.safetensors", meta("mnist", nil), nil), 20, false, ""},
		{"standardised", save("s.safetensors", meta("fashion-mnist", nil), map[string][]float32{checkpoint.TensorMean: make([]float32, 784), checkpoint.TensorStd: ones}), 0, true, ""},
		{"a folder model", save("r.safetensors", meta("folder", &checkpoint.Preprocess{Kind: checkpoint.PrepResize, Size: 28}), nil), 0, false, "photos need"},
		{"missing", filepath.Join(dir, "none.safetensors"), 0, false, "none.safetensors"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadModel(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Prep.Box != tt.box || (s.Model.Norm != nil) != tt.norm || s.Model.In != 784 {
				t.Errorf("box %d, standardised %v, %d inputs; want %d, %v, 784", s.Prep.Box, s.Model.Norm != nil, s.Model.In, tt.box, tt.norm)
			}
		})
	}
}
