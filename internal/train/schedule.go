package train

import (
	"fmt"
	"math"
	"slices"
)

// Learning-rate schedules.
const (
	// ScheduleConstant keeps the rate at Config.LR: the chapter's.
	ScheduleConstant = "constant"
	// ScheduleCosine decays it from LR to zero along half a cosine over
	// the steps after the warm-up; it is zero after the last step.
	ScheduleCosine = "cosine"
	// ScheduleStep divides it by 10 at half and again at three quarters
	// of the epochs.
	ScheduleStep = "step"
)

// Schedules lists the schedule names, the default first.
var Schedules = []string{ScheduleConstant, ScheduleCosine, ScheduleStep}

// Schedule gives the learning rate of each step of a run.
type Schedule struct {
	Kind   string // one of Schedules; "" is constant
	LR     float64
	Epochs int
	// Warmup is the number of epochs over which the rate rises linearly
	// from LR/steps to LR before the schedule proper starts.
	Warmup  int
	Batches int // steps per epoch
}

// Validate checks the schedule's kind and warm-up. Its errors are
// *ConfigError.
func (s Schedule) Validate() error {
	if s.Kind != "" && !slices.Contains(Schedules, s.Kind) {
		return &ConfigError{"Schedule", s.Kind, fmt.Sprintf("one of %v", Schedules)}
	}
	if s.Warmup < 0 || s.Epochs > 0 && s.Warmup >= s.Epochs {
		return &ConfigError{"Warmup", s.Warmup, "at least 0 and below the number of epochs"}
	}
	return nil
}

// At returns the rate of step t (from 0) of the run; t = Epochs·Batches,
// one past the last step, is where the cosine reaches zero.
func (s Schedule) At(t int) float64 {
	w := s.Warmup * s.Batches
	if t < w {
		return s.LR * float64(t+1) / float64(w)
	}
	switch s.Kind {
	case ScheduleCosine:
		total := s.Epochs*s.Batches - w
		if total <= 0 {
			return s.LR
		}
		p := min(float64(t-w)/float64(total), 1)
		return s.LR * 0.5 * (1 + math.Cos(math.Pi*p))
	case ScheduleStep:
		e := t / max(s.Batches, 1) // epoch, from 0
		lr := s.LR
		if 2*e >= s.Epochs {
			lr /= 10
		}
		if 4*e >= 3*s.Epochs {
			lr /= 10
		}
		return lr
	}
	return s.LR
}
