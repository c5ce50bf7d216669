package checkpoint

import (
	"strings"
	"testing"
)

// TestReadRecipe: a recipe written by Encode reads back as it was; a
// chapter checkpoint, which has none, gets one from its training record;
// an unreadable one is an error.
func TestReadRecipe(t *testing.T) {
	want := Recipe{Epochs: 30, LR: 0.1, BatchSize: 256, Sigma: 0.01, Seed: 7, Momentum: 0.9, Schedule: "cosine", Standardize: true, StartEpoch: 5}
	for _, tt := range []struct {
		name    string
		meta    Meta
		want    Recipe
		wantErr string
	}{
		{name: "encoded", meta: Meta{Recipe: want.Encode()}, want: want},
		{name: "chapter", meta: Meta{Epochs: 10, LR: 0.1, BatchSize: 256, Sigma: 0.01, Seed: 3}, want: Recipe{Epochs: 10, LR: 0.1, BatchSize: 256, Sigma: 0.01, Seed: 3}},
		{name: "unreadable", meta: Meta{Recipe: "{"}, wantErr: "recipe is not readable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&Checkpoint{Meta: tt.meta}).ReadRecipe()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || *got != tt.want {
				t.Errorf("ReadRecipe = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
