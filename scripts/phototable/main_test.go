package main

import (
	"context"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/imageprep/phototest"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

func TestRunRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no data", []string{"--n", "5"}, "--data DIR is required"},
		{"no images", []string{"--data", t.TempDir(), "--n", "0"}, "--n must be at least 1"},
		{"an argument", []string{"--data", t.TempDir(), "extra"}, `unexpected argument "extra"`},
		{"no dataset there", []string{"--data", t.TempDir()}, "loading the test images"},
		{"no model there", []string{"--data", t.TempDir(), "--model", "none.safetensors"}, "none.safetensors"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut strings.Builder
			err := run(context.Background(), tt.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// TestRunRealData runs the command on a few real test images: it trains
// the default recipe, says so, and prints a row for every condition.
func TestRunRealData(t *testing.T) {
	dir := testenv.Data(t)
	var out, errOut strings.Builder
	if err := run(context.Background(), []string{"--data", dir, "--n", "10"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "training the default recipe") || !strings.Contains(out.String(), "trained by this command: val_acc 0.") {
		t.Errorf("the output does not say the model was trained here:\n%s\n%s", out.String(), errOut.String())
	}
	for _, c := range phototest.Conditions() {
		if !strings.Contains(out.String(), "| "+c.Name+" | ") {
			t.Errorf("no row for %q in\n%s", c.Name, out.String())
		}
	}
}
