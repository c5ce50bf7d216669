package program

import (
	"fmt"
	"strings"
)

// A Program is the model's training (or forward-only) graph lowered to an
// ordered list of steps over buffers whose sizes are fixed when it is
// compiled. An executor allocates every buffer once and then runs the steps
// batch after batch without allocating: CPUExecutor here, CUDAExecutor on a
// GPU in binaries built with the cuda tag. The step semantics are defined
// once, by the CPU executor (semantics.go); the CUDA kernels mirror them.
//
// A Program is read-only after Compile and may be shared by executors.
type Program struct {
	// Batch is the number of rows of every batch; In and Classes are the
	// widths of X and Y.
	Batch, In, Classes int

	Buffers []Buffer
	Steps   []Step

	// The buffers executors bind to the outside world. WGrad, BGrad and
	// LR are NoBuffer in a forward-only program; every other is set.
	X, Y         BufferID // the batch: Batch×In pixels in [0, 1], Batch×Classes one-hot labels
	W, B         BufferID // the parameters, updated in place by the SGD steps
	Logits, Loss BufferID // Batch×Classes logits and the scalar mean loss
	WGrad, BGrad BufferID // ∂loss/∂W and ∂loss/∂b
	Pixels       BufferID // the dataset's pixels, N×In bytes (sized when loaded)
	Labels       BufferID // the dataset's labels, N bytes (sized when loaded)
	Index        BufferID // Batch dataset rows to gather; -1 marks a padding row
	LR           BufferID // the learning rate read by the SGD steps

	// Optim holds the buffers of the optimiser's update steps in a
	// program compiled with CompileOptions.Update; nil in every other,
	// whose update steps are the chapter's StepSGD.
	Optim *OptimBuffers
}

// BufferID indexes Program.Buffers.
type BufferID int

// NoBuffer marks a buffer a program does not have.
const NoBuffer BufferID = -1

// Dtype is the element type of a buffer.
type Dtype uint8

// The element types buffers hold.
const (
	Float32 Dtype = iota
	Int32
	Uint8
)

func (d Dtype) String() string {
	switch d {
	case Float32:
		return "f32"
	case Int32:
		return "i32"
	case Uint8:
		return "u8"
	}
	return fmt.Sprintf("Dtype(%d)", uint8(d))
}

// Size returns the size of one element in bytes.
func (d Dtype) Size() int {
	switch d {
	case Int32:
		return 4
	case Uint8:
		return 1
	}
	return 4
}

// Role says what a buffer holds and so who writes it.
type Role uint8

// The roles of buffers.
const (
	RoleInput   Role = iota // written by the host (SetBatch) or a gather step
	RoleParam               // a parameter: uploaded once, updated by SGD steps
	RoleOutput              // a result the host reads after Run
	RoleGrad                // a gradient: read by the host and the SGD steps
	RoleTemp                // an intermediate value; may be shared by values whose lifetimes do not overlap
	RoleConst               // a constant of the graph: Init, uploaded once
	RoleDataset             // dataset bytes, sized and uploaded by LoadDataset
	RoleIndex               // the rows of the next batch, written by the host
	RoleScalar              // a scalar the host sets before a phase (the learning rate)
	RoleState               // optimiser state (velocities): updated by update steps, read and written by the host for checkpoints
)

func (r Role) String() string {
	switch r {
	case RoleInput:
		return "input"
	case RoleParam:
		return "param"
	case RoleOutput:
		return "output"
	case RoleGrad:
		return "grad"
	case RoleTemp:
		return "temp"
	case RoleConst:
		return "const"
	case RoleDataset:
		return "dataset"
	case RoleIndex:
		return "index"
	case RoleScalar:
		return "scalar"
	case RoleState:
		return "state"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// A Buffer is one allocation of a program.
type Buffer struct {
	Name  string
	Role  Role
	Dtype Dtype
	// Shape is the buffer's shape, row-major; nil for dataset buffers,
	// whose size is known only when a dataset is loaded. A shared
	// temporary has the flat shape [n].
	Shape []int
	// Init is a constant's value.
	Init []float32
}

// Len returns the number of elements of the buffer, 0 for a dataset buffer.
func (b Buffer) Len() int {
	if b.Shape == nil {
		return 0
	}
	return shapeSize(b.Shape)
}

// StepKind is what a step computes.
type StepKind uint8

// The kinds of steps. Each Gorgonia op the compiler knows maps to one.
const (
	// StepGather fills a batch from the dataset bytes by Index: with
	// OneHot unset, Out (Batch×Len) gets In[0] (pixels) rows scaled by
	// 1/255; with OneHot set, Out (Batch×Len) gets the one-hot rows of
	// In[0] (labels). Rows whose index is -1 become zero. In[1] is Index.
	StepGather StepKind = iota + 1
	// StepGEMM is Out = op(In[0])·op(In[1]) (Gorgonia's linAlgBinOp, the
	// matrix product, with the transposes G.Grad adds).
	StepGEMM
	// StepUnary is Out[i] = Fn(In[0][i]) for i < N (elemUnaryOp).
	StepUnary
	// StepBinary is Out[i] = In[0][i] Fn In[1][i] for i < N; an operand
	// marked in Scalar is one element used for every i (elemBinOp).
	StepBinary
	// StepCompare is StepBinary for a comparison: 1 where it holds, else 0
	// (elemBinOp ==, as G.Grad builds for max's gradient).
	StepCompare
	// StepRepeat views In[0] as Outer×Len×Inner and Out as
	// Outer×(Len·Reps)×Inner and repeats each element Reps times along
	// the middle axis (repeatOp, which Broadcast* lowers to).
	StepRepeat
	// StepReduce views In[0] as Outer×Len×Inner and reduces the middle
	// axis with Fn (FnSum, FnMax) into Out, Outer×Inner (sumOp, maxOp).
	StepReduce
	// StepSGD is Out[i] -= In[1][0]·In[0][i] for i < N: the parameter Out,
	// its gradient In[0] and the learning rate In[1]. Compile appends it.
	StepSGD
	// StepUpdate is the optimiser's update of the parameter Out (N
	// elements) from its gradient In[0], with the velocity In[1], which
	// it updates too, and the runtime scalars In[2] = [lr, weight decay,
	// momentum]: the rule of train.Optimizer (update.go). Decay says
	// whether the weight decay applies (W, not b); Nesterov picks
	// Nesterov momentum. Compile makes it instead of StepSGD when
	// CompileOptions.Update is set.
	StepUpdate
	// StepStandardize standardises the gathered pixels in place: Out
	// (Batch×Len) gets (Out − In[1][j])/In[2][j] in column j of every row
	// whose index In[0] is not -1 (padding rows stay zero).
	StepStandardize
	// StepSmooth smooths the gathered one-hot labels in place: Out
	// (Batch×Len) gets In[1][0]·Out + In[1][1] in every row whose index
	// In[0] is not -1, with In[1] = [1−ε, ε/Len].
	StepSmooth
	// StepBiasAdd is Out[i] = In[0][i] + In[1][i mod Len] for i < N: the
	// vector In[1] (Len elements) added to every row of the matrix In[0]
	// (model.BiasAddOp, and the bias of model.LinearOp).
	StepBiasAdd
	// StepSoftmaxXent is the mean softmax cross-entropy of the Outer×Len
	// logits In[0] against the labels In[1] into the scalar Out: rows
	// shifted by their maximum, padding rows (all-zero labels) ignored
	// (model.SoftmaxCEOp, model.SoftmaxXent).
	StepSoftmaxXent
	// StepSoftmaxXentGrad is its derivative with respect to the logits:
	// Out = In[2][0]·(softmax(In[0])·rowsum(In[1]) − In[1])/ΣIn[1], by
	// rows of Len (model.SoftmaxCEGradOp, model.SoftmaxXentGrad).
	StepSoftmaxXentGrad
)

func (k StepKind) String() string {
	switch k {
	case StepGather:
		return "gather"
	case StepGEMM:
		return "gemm"
	case StepUnary:
		return "unary"
	case StepBinary:
		return "binary"
	case StepCompare:
		return "compare"
	case StepRepeat:
		return "repeat"
	case StepReduce:
		return "reduce"
	case StepSGD:
		return "sgd"
	case StepUpdate:
		return "update"
	case StepStandardize:
		return "standardize"
	case StepSmooth:
		return "smooth"
	case StepBiasAdd:
		return "biasadd"
	case StepSoftmaxXent:
		return "xent"
	case StepSoftmaxXentGrad:
		return "xentgrad"
	}
	return fmt.Sprintf("StepKind(%d)", uint8(k))
}

// Fn is the function of a unary, binary, compare or reduce step. The values
// are part of the kernels' interface: kernels/kernels.cu defines the same
// numbers as OP_* (a test checks).
type Fn uint8

// The functions steps apply.
const (
	FnNeg Fn = 1
	FnExp Fn = 2
	FnLn  Fn = 3
	FnAdd Fn = 4
	FnSub Fn = 5
	FnMul Fn = 6
	FnDiv Fn = 7
	FnEq  Fn = 8
	FnSum Fn = 9
	FnMax Fn = 10
)

var fnNames = map[Fn]string{
	FnNeg: "neg", FnExp: "exp", FnLn: "ln",
	FnAdd: "add", FnSub: "sub", FnMul: "mul", FnDiv: "div",
	FnEq: "eq", FnSum: "sum", FnMax: "max",
}

// Fns lists every function a step can apply, for checking that the
// kernels number them alike.
func Fns() []Fn {
	return []Fn{FnNeg, FnExp, FnLn, FnAdd, FnSub, FnMul, FnDiv, FnEq, FnSum, FnMax}
}

func (f Fn) String() string {
	if s, ok := fnNames[f]; ok {
		return s
	}
	return fmt.Sprintf("Fn(%d)", uint8(f))
}

// Phase groups steps by when an executor runs them.
type Phase uint8

// The phases, in the order a training step runs them.
const (
	PhaseInput    Phase = iota // GatherBatch
	PhaseForward               // Run: up to logits and loss
	PhaseBackward              // Run: the gradients G.Grad added
	PhaseUpdate                // SGD
)

func (p Phase) String() string {
	switch p {
	case PhaseInput:
		return "input"
	case PhaseForward:
		return "fwd"
	case PhaseBackward:
		return "bwd"
	case PhaseUpdate:
		return "update"
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// A Step is one operation of a program. Which fields it uses depends on
// Kind; see the StepKind constants.
type Step struct {
	Kind  StepKind
	Phase Phase
	Fn    Fn
	Out   BufferID
	In    []BufferID

	// N is the number of elements of Out (unary, binary, compare, SGD).
	N int
	// Scalar marks binary operands of one element, used for every i.
	Scalar [2]bool
	// Outer, Len and Inner give the 3-D view of a repeat's or reduction's
	// input; Reps is a repeat's count. For a gather, Len is the row width;
	// for a bias add and the softmax cross-entropy steps, Len is the row
	// width and Outer the number of rows.
	Outer, Len, Inner, Reps int
	// OneHot makes a gather step write one-hot labels rather than pixels.
	OneHot bool
	// GEMM describes a StepGEMM.
	GEMM GEMM
	// Decay and Nesterov Describe a StepUpdate: whether the weight decay
	// applies to its parameter, and whether its momentum is Nesterov's.
	Decay, Nesterov bool

	// Source is the Gorgonia node the step computes, for listings and
	// errors; empty for steps the compiler adds.
	Source string
}

// GEMM is a row-major matrix product C = op(A)·op(B) with C M×N, op(A) M×K
// and op(B) K×N, where op transposes when TransA (TransB) is set. LDA, LDB
// and LDC are the row lengths of A, B and C as stored (so A is stored M×K,
// LDA = K, without TransA and K×M, LDA = M, with it).
type GEMM struct {
	TransA, TransB bool
	M, N, K        int
	LDA, LDB, LDC  int
}

// ColumnMajorGEMM is a GEMM in the form cuBLAS's column-major Sgemm takes:
//
//	Sgemm(TransA, TransB, M, N, K, 1, A, LDA, B, LDB, 0, C, LDC)
//
// A and B are the buffers passed first and second.
type ColumnMajorGEMM struct {
	TransA, TransB bool
	M, N, K        int
	A, B, C        BufferID
	LDA, LDB, LDC  int
}

// ColumnMajor returns the column-major call that computes the row-major
// product of s, a StepGEMM. A row-major matrix read as column-major is its
// transpose, so C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ: the
// operands swap, as do M and N, while each keeps its transpose flag and
// leading dimension. Row-major C = A·B becomes
// Sgemm(N, N, n, m, k, 1, B, n, A, k, 0, C, n).
func (s *Step) ColumnMajor() ColumnMajorGEMM {
	g := s.GEMM
	return ColumnMajorGEMM{
		TransA: g.TransB, TransB: g.TransA,
		M: g.N, N: g.M, K: g.K,
		A: s.In[1], LDA: g.LDB,
		B: s.In[0], LDB: g.LDA,
		C: s.Out, LDC: g.LDC,
	}
}

// StepsOf returns the indices of the steps of the given phases, in order.
func (p *Program) StepsOf(phases ...Phase) []int {
	var idx []int
	for i, s := range p.Steps {
		for _, ph := range phases {
			if s.Phase == ph {
				idx = append(idx, i)
				break
			}
		}
	}
	return idx
}

// Train reports whether the program computes gradients and updates.
func (p *Program) Train() bool { return p.WGrad != NoBuffer }

// Floats returns the number of float32 elements the program allocates,
// dataset buffers excluded.
func (p *Program) Floats() int {
	n := 0
	for _, b := range p.Buffers {
		if b.Dtype == Float32 {
			n += b.Len()
		}
	}
	return n
}

// String returns a readable listing: the buffers, then the steps with the
// cuBLAS call of each GEMM.
func (p *Program) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "program: batch %d, %d inputs, %d classes: %d steps, %d buffers (%d floats)\n",
		p.Batch, p.In, p.Classes, len(p.Steps), len(p.Buffers), p.Floats())
	sb.WriteString("buffers:\n")
	for i, b := range p.Buffers {
		shape := "[N]"
		if b.Shape != nil {
			shape = fmt.Sprint(b.Shape)
		}
		fmt.Fprintf(&sb, "  %-3s %-7s %s%-10s %s", fmt.Sprintf("b%d", i), b.Name, b.Dtype, shape, b.Role)
		if b.Init != nil {
			fmt.Fprintf(&sb, " = %v", b.Init)
		}
		sb.WriteByte('\n')
	}
	sb.WriteString("steps:\n")
	for i := range p.Steps {
		s := &p.Steps[i]
		fmt.Fprintf(&sb, "  %2d %-6s %-7s %s", i, s.Phase, s.Kind, p.Describe(s))
		if s.Source != "" {
			fmt.Fprintf(&sb, "    ; %s", s.Source)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Describe renders one step's computation.
func (p *Program) Describe(s *Step) string {
	name := func(id BufferID) string {
		if id < 0 || int(id) >= len(p.Buffers) {
			return fmt.Sprintf("b%d?", id)
		}
		return p.Buffers[id].Name
	}
	in := func(i int) string { return name(s.In[i]) }
	switch s.Kind {
	case StepGather:
		if s.OneHot {
			return fmt.Sprintf("%s = onehot%d(%s[%s])  (%d rows; index -1 → zero row)", name(s.Out), s.Len, in(0), in(1), s.Outer)
		}
		return fmt.Sprintf("%s = %s[%s]/255  (%d rows × %d; index -1 → zero row)", name(s.Out), in(0), in(1), s.Outer, s.Len)
	case StepGEMM:
		g := s.GEMM
		t := func(b bool) string {
			if b {
				return "ᵀ"
			}
			return ""
		}
		c := s.ColumnMajor()
		tc := func(b bool) string {
			if b {
				return "T"
			}
			return "N"
		}
		return fmt.Sprintf("%s[%d×%d] = %s%s · %s%s (k=%d)  → cublasSgemm(%s, %s, %d, %d, %d, 1, %s, %d, %s, %d, 0, %s, %d)",
			name(s.Out), g.M, g.N, in(0), t(g.TransA), in(1), t(g.TransB), g.K,
			tc(c.TransA), tc(c.TransB), c.M, c.N, c.K, name(c.A), c.LDA, name(c.B), c.LDB, name(c.C), c.LDC)
	case StepUnary:
		return fmt.Sprintf("%s = %s(%s)  [%d]", name(s.Out), s.Fn, in(0), s.N)
	case StepBinary, StepCompare:
		op := func(i int) string {
			if s.Scalar[i] {
				return in(i) + "[0]"
			}
			return in(i)
		}
		return fmt.Sprintf("%s = %s(%s, %s)  [%d]", name(s.Out), s.Fn, op(0), op(1), s.N)
	case StepRepeat:
		return fmt.Sprintf("%s = repeat(%s as %d×%d×%d, middle ×%d)", name(s.Out), in(0), s.Outer, s.Len, s.Inner, s.Reps)
	case StepReduce:
		return fmt.Sprintf("%s = %s(%s as %d×%d×%d, middle)", name(s.Out), s.Fn, in(0), s.Outer, s.Len, s.Inner)
	case StepSGD:
		return fmt.Sprintf("%s -= %s[0] · %s  [%d]", name(s.Out), in(1), in(0), s.N)
	case StepUpdate, StepStandardize, StepSmooth:
		return p.describeOptim(s, name)
	case StepBiasAdd:
		return fmt.Sprintf("%s = %s + rows(%s)  [%d×%d]", name(s.Out), in(0), in(1), s.N/max(s.Len, 1), s.Len)
	case StepSoftmaxXent:
		return fmt.Sprintf("%s = xent(softmax(%s), %s)  [%d×%d]", name(s.Out), in(0), in(1), s.Outer, s.Len)
	case StepSoftmaxXentGrad:
		return fmt.Sprintf("%s = %s[0]·(softmax(%s)·rowsum(%s) − %s)/sum(%s)  [%d×%d]", name(s.Out), in(2), in(0), in(1), in(1), in(1), s.Outer, s.Len)
	}
	return "?"
}
