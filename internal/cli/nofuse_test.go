package cli

import (
	"bytes"
	"testing"

	"github.com/spf13/cobra"
)

// --no-fuse reaches the options (and from there train.Trainer.Unfused);
// without it the fused graph runs.
func TestNoFuseFlag(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--no-fuse"}, true},
	}
	for _, tt := range tests {
		var got TrainOptions
		cmd := NewCmdTrain(&IO{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, func(_ *cobra.Command, o *TrainOptions) error { got = *o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		if got.NoFuse != tt.want {
			t.Errorf("%v: NoFuse = %v, want %v", tt.args, got.NoFuse, tt.want)
		}
	}
}
