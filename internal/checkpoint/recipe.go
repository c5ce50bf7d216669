package checkpoint

import (
	"encoding/json"
	"fmt"
)

// Recipe is the record Meta.Recipe holds for a model trained beyond the
// chapter's recipe: every setting of the run, so that train --resume can
// continue it and a reader can repeat it. It is JSON inside the metadata
// (see docs/checkpoint.md).
type Recipe struct {
	Preset      string  `json:"preset,omitempty"`
	Epochs      int     `json:"epochs"` // planned, not done: Meta.Epochs says how many are done
	LR          float64 `json:"lr"`
	BatchSize   int     `json:"batch_size"`
	Sigma       float64 `json:"sigma"`
	Seed        int64   `json:"seed"`
	ValSplit    int     `json:"val_split,omitempty"`
	WeightDecay float64 `json:"weight_decay,omitempty"`
	Momentum    float64 `json:"momentum,omitempty"`
	Nesterov    bool    `json:"nesterov,omitempty"`
	Schedule    string  `json:"lr_schedule,omitempty"`
	Warmup      int     `json:"warmup_epochs,omitempty"`
	EMA         float64 `json:"ema,omitempty"`
	Standardize bool    `json:"standardize,omitempty"`
	Smoothing   float64 `json:"label_smoothing,omitempty"`
	SaveBest    bool    `json:"save_best,omitempty"`
	BestEpoch   int     `json:"best_epoch,omitempty"`
	Patience    int     `json:"patience,omitempty"`
	// TestSelection records --allow-test-selection: figures selected on
	// the test set are not test figures.
	TestSelection bool   `json:"test_selection,omitempty"`
	Init          string `json:"init,omitempty"`
	StartEpoch    int    `json:"resumed_from_epoch,omitempty"`
}

// Encode is the record as Meta.Recipe stores it.
func (r *Recipe) Encode() string {
	b, _ := json.Marshal(r) // plain fields: cannot fail
	return string(b)
}

// ReadRecipe reads ck's recipe; a chapter checkpoint has none and gets
// one from its training record.
func (ck *Checkpoint) ReadRecipe() (*Recipe, error) {
	if ck.Meta.Recipe == "" {
		return &Recipe{Epochs: ck.Meta.Epochs, LR: ck.Meta.LR, BatchSize: ck.Meta.BatchSize, Sigma: ck.Meta.Sigma, Seed: ck.Meta.Seed}, nil
	}
	var r Recipe
	if err := json.Unmarshal([]byte(ck.Meta.Recipe), &r); err != nil {
		return nil, fmt.Errorf("its recipe is not readable: %w", err)
	}
	return &r, nil
}
