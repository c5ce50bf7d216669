package program

import (
	"errors"
	"fmt"
	"slices"

	"github.com/softmaxctl/softmaxctl/internal/model"
)

// This file holds the steps of the recipe options beyond the chapter's:
// the optimiser's update (weight decay, momentum, Nesterov) with its
// velocity buffers, input standardisation and label smoothing. They are
// added to a compiled program by CompileOptions, so that a program
// compiled without them is the chapter's, step for step.

// UpdateRule selects the optimiser's update steps (StepUpdate) in a
// training program. The learning rate, weight decay and momentum are not
// part of it: they are runtime scalars that Updater.Update sets per step,
// as the schedule changes the learning rate every step.
type UpdateRule struct {
	// Nesterov selects Nesterov momentum: p ← p − lr·(g + μ·v) rather
	// than p ← p − lr·v.
	Nesterov bool
}

// OptimBuffers are the buffers of a program's update steps.
type OptimBuffers struct {
	// VW and VB are the velocities of W and b (RoleState): zero when
	// the executor starts, read and written by Updater.Velocity and
	// SetVelocity so that a checkpoint holds them and --resume restores
	// them.
	VW, VB BufferID
	// Hyper holds the runtime scalars [lr, weight decay, momentum]
	// (RoleScalar), set by Updater.Update before the update steps run:
	// one copy to a GPU per step.
	Hyper BufferID
}

// HyperLen is the number of runtime scalars of the update steps.
const HyperLen = 3

// An Updater is an Executor that runs the optimiser's update steps of a
// program compiled with CompileOptions.Update. Both CPUExecutor and
// CUDAExecutor are Updaters; on a program without update steps their
// Update, Velocity and SetVelocity fail.
type Updater interface {
	Executor
	// Update applies one optimiser step to the parameters with the
	// gradients of the last Run: with g = ∂loss/∂p + weightDecay·p (W
	// only), v ← momentum·v + g and p ← p − lr·v (Nesterov: p ← p −
	// lr·(g + momentum·v)); with momentum 0, p ← p − lr·g and the
	// velocities are left alone. It is train.Optimizer.Update, bit for
	// bit.
	Update(lr, weightDecay, momentum float32) error
	// Velocity copies the velocities of W and b out; SetVelocity copies
	// them in.
	Velocity(vw, vb []float32) error
	SetVelocity(vw, vb []float32) error
}

var (
	// ErrNoOptim is returned by the Updater methods on a program
	// compiled without CompileOptions.Update.
	ErrNoOptim = errors.New("program was compiled without optimiser update steps")
	// ErrOptimSGD is returned by SGD on a program compiled with them:
	// its update steps read the scalars Update sets, not the rate SGD
	// sets.
	ErrOptimSGD = errors.New("program was compiled with optimiser update steps: use Update, not SGD")
)

// addOptions adds the steps and buffers opts asks for to a compiled
// program: a StepStandardize after the pixel gather, a StepSmooth after
// the label gather, and StepUpdate in place of each StepSGD.
func (p *Program) addOptions(o CompileOptions) error {
	if o.Mean != nil || o.Std != nil {
		if len(o.Mean) != p.In || len(o.Std) != p.In {
			return fmt.Errorf("standardisation has %d means and %d standard deviations for %d inputs", len(o.Mean), len(o.Std), p.In)
		}
		mean := p.Add(Buffer{Name: "mean", Role: RoleConst, Shape: []int{p.In}, Init: slices.Clone(o.Mean)})
		std := p.Add(Buffer{Name: "std", Role: RoleConst, Shape: []int{p.In}, Init: slices.Clone(o.Std)})
		p.insertAfter(p.X, Step{Kind: StepStandardize, Phase: PhaseInput, Out: p.X,
			In: []BufferID{p.Index, mean, std}, Outer: p.Batch, Len: p.In})
	}
	if eps := o.LabelSmoothing; eps != 0 {
		if !p.Train() {
			return errors.New("label smoothing in a forward-only program")
		}
		if !(eps > 0 && eps < 1) {
			return fmt.Errorf("label smoothing %v is not in (0, 1)", eps)
		}
		// The two constants computed as train's loadSmoothed computes
		// them, in float32: (1−ε)·y + ε/K.
		coef := p.Add(Buffer{Name: "smooth", Role: RoleConst, Shape: []int{2}, Init: []float32{1 - eps, eps / float32(p.Classes)}})
		p.insertAfter(p.Y, Step{Kind: StepSmooth, Phase: PhaseInput, Out: p.Y,
			In: []BufferID{p.Index, coef}, Outer: p.Batch, Len: p.Classes})
	}
	if o.Update != nil {
		if !p.Train() {
			return errors.New("optimiser update steps in a forward-only program")
		}
		ob := &OptimBuffers{
			VW:    p.Add(Buffer{Name: "vW", Role: RoleState, Shape: slices.Clone(p.Buffers[p.W].Shape)}),
			VB:    p.Add(Buffer{Name: "vb", Role: RoleState, Shape: slices.Clone(p.Buffers[p.B].Shape)}),
			Hyper: p.Add(Buffer{Name: "hyper", Role: RoleScalar, Shape: []int{HyperLen}}),
		}
		p.Optim = ob
		for i := range p.Steps {
			s := &p.Steps[i]
			if s.Kind != StepSGD {
				continue
			}
			v := ob.VB
			if s.Out == p.W {
				v = ob.VW
			}
			s.Kind = StepUpdate
			s.In = []BufferID{s.In[0], v, ob.Hyper}
			// Decay on the weights only, as train.Optimizer does.
			s.Decay, s.Nesterov = s.Out == p.W, o.Update.Nesterov
		}
	}
	return nil
}

// insertAfter inserts s after the input step that writes out.
func (p *Program) insertAfter(out BufferID, s Step) {
	at := len(p.Steps)
	for i, t := range p.Steps {
		if t.Phase == PhaseInput && t.Out == out {
			at = i + 1
		}
	}
	p.Steps = slices.Insert(p.Steps, at, s)
}

// validateOptim checks a program's update buffers.
func (p *Program) validateOptim() error {
	o := p.Optim
	if o == nil {
		return nil
	}
	if !p.Train() {
		return errors.New("forward-only program with optimiser buffers")
	}
	for _, b := range []struct {
		id   BufferID
		role Role
		n    int
	}{{o.VW, RoleState, p.In * p.Classes}, {o.VB, RoleState, p.Classes}, {o.Hyper, RoleScalar, HyperLen}} {
		if b.id < 0 || int(b.id) >= len(p.Buffers) {
			return fmt.Errorf("optimiser buffer %d out of range", b.id)
		}
		if buf := p.Buffers[b.id]; buf.Role != b.role || buf.Dtype != Float32 || buf.Len() != b.n {
			return fmt.Errorf("optimiser buffer %s is %s %s of %d elements, want %s of %d", buf.Name, buf.Role, buf.Dtype, buf.Len(), b.role, b.n)
		}
	}
	return nil
}

// validateOptimStep checks a step of this file's kinds; f32 checks that
// buffers are sized float32 ones.
func (p *Program) validateOptimStep(s *Step, f32 func(...BufferID) error) error {
	length := func(id BufferID) int { return p.Buffers[id].Len() }
	switch s.Kind {
	case StepUpdate:
		o := p.Optim
		if o == nil {
			return ErrNoOptim
		}
		if p.Buffers[s.Out].Role != RoleParam || length(s.Out) != s.N || length(s.In[0]) != s.N ||
			p.Buffers[s.In[1]].Role != RoleState || length(s.In[1]) != s.N || s.In[2] != o.Hyper {
			return errors.New("update over mismatched buffers")
		}
		return nil
	case StepStandardize, StepSmooth:
		if s.In[0] != p.Index || s.Outer != p.Batch {
			return errors.New("rows not those of the batch's index")
		}
		if err := f32(s.Out, s.In[1]); err != nil {
			return err
		}
		want := []int{s.Len, 2}[b2n(s.Kind == StepSmooth)]
		if s.Len < 1 || length(s.Out) != s.Outer*s.Len || length(s.In[1]) != want {
			return fmt.Errorf("%s of %d×%d over %d elements with %d coefficients", s.Kind, s.Outer, s.Len, length(s.Out), length(s.In[1]))
		}
		if s.Kind == StepStandardize {
			if err := f32(s.In[2]); err != nil {
				return err
			}
			if length(s.In[2]) != s.Len {
				return fmt.Errorf("%d standard deviations for rows of %d", length(s.In[2]), s.Len)
			}
		}
		return nil
	}
	return fmt.Errorf("step kind %s", s.Kind)
}

func b2n(b bool) int {
	if b {
		return 1
	}
	return 0
}

// describeOptim renders a step of this file's kinds for Program.String.
func (p *Program) describeOptim(s *Step, name func(BufferID) string) string {
	switch s.Kind {
	case StepUpdate:
		rule := "momentum"
		if s.Nesterov {
			rule = "nesterov"
		}
		decay := ""
		if s.Decay {
			decay = " + decay·" + name(s.Out)
		}
		return fmt.Sprintf("%s, %s = %s(%s%s, %s; %s = lr, decay, μ)  [%d]",
			name(s.Out), name(s.In[1]), rule, name(s.In[0]), decay, name(s.In[1]), name(s.In[2]), s.N)
	case StepStandardize:
		return fmt.Sprintf("%s = (%s − %s)/%s  (%d rows × %d; index -1 → left zero)", name(s.Out), name(s.Out), name(s.In[1]), name(s.In[2]), s.Outer, s.Len)
	case StepSmooth:
		return fmt.Sprintf("%s = %s[0]·%s + %s[1]  (%d rows × %d; index -1 → left zero)", name(s.Out), name(s.In[1]), name(s.Out), name(s.In[1]), s.Outer, s.Len)
	}
	return "?"
}

// applyUpdate is StepUpdate: model.Update, the rule train.Optimizer
// applies, on p with gradient g, velocity v and h = [lr, weight decay,
// momentum]; the decay applies when decay is set.
func applyUpdate(p, g, v, h []float32, decay, nesterov bool) {
	wd := float32(0)
	if decay {
		wd = h[1]
	}
	model.Update(p, g, v, h[0], wd, h[2], nesterov)
}

// StandardizeRows is StepStandardize: x[r][j] = (x[r][j] − mean[j])/std[j]
// for the rows whose index is not -1, as model.Standardizer.Apply.
func StandardizeRows(x []float32, idx []int32, mean, std []float32, width int) {
	for r, i := range idx {
		if i < 0 {
			continue
		}
		row := x[r*width : (r+1)*width]
		for j, v := range row {
			row[j] = (v - mean[j]) / std[j]
		}
	}
}

// SmoothRows is StepSmooth: y[r][j] = coef[0]·y[r][j] + coef[1] for the
// rows whose index is not -1, as train's loadSmoothed.
func SmoothRows(y []float32, idx []int32, coef []float32, classes int) {
	for r, i := range idx {
		if i < 0 {
			continue
		}
		for j := r * classes; j < (r+1)*classes; j++ {
			y[j] = float32(coef[0]*y[j]) + coef[1]
		}
	}
}
