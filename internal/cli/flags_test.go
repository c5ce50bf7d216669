package cli

import (
	"bytes"
	"slices"
	"testing"

	"github.com/spf13/cobra"
)

// The constructors take a run function so that flag handling is tested
// without running anything: each command's flags land in its options.
func TestFlagsFillOptions(t *testing.T) {
	ios := &IO{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	run := func(t *testing.T, cmd *cobra.Command, args ...string) {
		t.Helper()
		cmd.SetArgs(args)
		cmd.SetOut(ios.Out)
		cmd.SetErr(ios.ErrOut)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("train defaults are the chapter's recipe", func(t *testing.T) {
		var got TrainOptions
		run(t, NewCmdTrain(ios, func(_ *cobra.Command, o *TrainOptions) error { got = *o; return nil }))
		if got.Epochs != 10 || got.LR != 0.1 || got.BatchSize != 256 || got.Sigma != 0.01 || got.Seed != 0 ||
			got.Out != "model.safetensors" || got.Device != "auto" || got.Data.Dataset != "fashion-mnist" {
			t.Errorf("defaults %+v", got)
		}
	})
	t.Run("train flags", func(t *testing.T) {
		var got TrainOptions
		run(t, NewCmdTrain(ios, func(_ *cobra.Command, o *TrainOptions) error { got = *o; return nil }),
			"--epochs", "3", "--lr", "0.5", "--batch-size", "64", "-o", "x.safetensors", "--dataset", "mnist", "--data", "d", "--no-download", "--mirror", "file:///a/", "--mirror", "file:///b/", "--json", "--plot", "c.svg", "--skip-dataset-check")
		if got.Epochs != 3 || got.LR != 0.5 || got.BatchSize != 64 || got.Out != "x.safetensors" || got.Data.Dataset != "mnist" ||
			got.Data.Dir != "d" || !got.Data.NoDownload || !slices.Equal(got.Data.Mirrors, []string{"file:///a/", "file:///b/"}) ||
			!got.JSON || got.Plot != "c.svg" || !got.Data.SkipCheck {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("eval takes its dataset from the model", func(t *testing.T) {
		var got EvalOptions
		run(t, NewCmdEval(ios, func(_ *cobra.Command, o *EvalOptions) error { got = *o; return nil }), "--split", "train", "-m", "m.safetensors")
		if got.Data.Dataset != "" || got.Split != "train" || got.Model != "m.safetensors" {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("predict", func(t *testing.T) {
		var got PredictOptions
		run(t, NewCmdPredict(ios, func(_ *cobra.Command, o *PredictOptions) error { got = *o; return nil }), "-k", "1", "--invert", "never", "a.png", "-")
		if got.Top != 1 || got.Invert != "never" || !slices.Equal(got.Args, []string{"a.png", "-"}) {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("show-errors -o and the old --output", func(t *testing.T) {
		for _, flag := range []string{"-o", "--out", "--output"} {
			var got ShowErrorsOptions
			run(t, NewCmdShowErrors(ios, func(_ *cobra.Command, o *ShowErrorsOptions) error { got = *o; return nil }), flag, "e.png", "--count", "100", "--scale", "2")
			if got.Out != "e.png" || got.Count != 100 || got.Scale != 2 || got.Limit != 0 {
				t.Errorf("%s: parsed %+v", flag, got)
			}
		}
	})
	t.Run("download", func(t *testing.T) {
		var got DownloadOptions
		run(t, NewCmdDownload(ios, func(_ *cobra.Command, o *DownloadOptions) error { got = *o; return nil }), "--force", "--dataset", "mnist")
		if !got.Force || got.Data.Dataset != "mnist" {
			t.Errorf("parsed %+v", got)
		}
	})
}
