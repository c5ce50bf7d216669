package checkpoint

import (
	"bytes"
	"testing"
)

// TestOldCheckpointLoads reads a file written by softmaxctl before the
// "preprocess" key existed (commit 3d0c8fe, one epoch on Fashion-MNIST):
// it loads, and its preprocessing is the MNIST-family photo pipeline.
func TestOldCheckpointLoads(t *testing.T) {
	c, err := Load("testdata/v1-no-preprocess.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if c.Meta.Preprocess != nil || c.Meta.TestSplit != nil {
		t.Fatalf("old file has preprocess %v, split %v", c.Meta.Preprocess, c.Meta.TestSplit)
	}
	if p := c.Meta.Prep(); p.Kind != PrepMNIST || p.Box != 0 {
		t.Fatalf("Prep() = %+v, want the photo pipeline with box 28", p)
	}
}

func TestPreprocessRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		prep  *Preprocess
		split *TestSplit
		ok    bool
	}{
		{"gray folder", []int{4, 4}, &Preprocess{Kind: PrepResize, Size: 4, Fit: FitCentreCrop}, &TestSplit{0.2, 3}, true},
		{"colour folder", []int{3, 2, 2}, &Preprocess{Kind: PrepResize, Size: 2, Color: true}, nil, true},
		{"mnist", []int{4, 4}, &Preprocess{Kind: PrepMNIST, Box: 3}, nil, true},
		{"shape mismatch", []int{4, 4}, &Preprocess{Kind: PrepResize, Size: 4, Color: true}, nil, false},
		{"unknown kind", []int{4, 4}, &Preprocess{Kind: "sharpen"}, nil, false},
		{"bad split", []int{4, 4}, nil, &TestSplit{1.5, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := 1
			for _, d := range tt.shape {
				in *= d
			}
			c := &Checkpoint{W: make([]float32, in*2), B: make([]float32, 2), In: in, Out: 2,
				Meta: Meta{Dataset: "folder", Classes: []string{"a", "b"}, InputShape: tt.shape, Scaling: "pixel/255", Preprocess: tt.prep, TestSplit: tt.split}}
			var b bytes.Buffer
			err := Encode(&b, c)
			if (err == nil) != tt.ok {
				t.Fatalf("Encode: %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			d, err := Decode(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if *d.Meta.Preprocess != *tt.prep || (tt.split != nil) != (d.Meta.TestSplit != nil) || tt.split != nil && *d.Meta.TestSplit != *tt.split {
				t.Fatalf("got %+v %+v", d.Meta.Preprocess, d.Meta.TestSplit)
			}
		})
	}
}
