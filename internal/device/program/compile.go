package program

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/softmaxctl/softmaxctl/internal/model"
)

// ErrUnsupported is wrapped by Compile's error when the graph holds an op it
// cannot lower. Nothing falls back to another machine: the error names the
// op and the node.
var ErrUnsupported = errors.New("unsupported Gorgonia op")

// CompileOptions tunes Compile. The zero value is the usual choice.
type CompileOptions struct {
	// NoBufferReuse gives every intermediate value a buffer of its own
	// instead of sharing buffers between values whose lifetimes do not
	// overlap: more memory, a program that is easier to debug.
	NoBufferReuse bool

	// Update, when set, makes a training program update the parameters
	// with the optimiser's StepUpdate (weight decay, momentum, Nesterov)
	// instead of the chapter's StepSGD; see OptimBuffers.
	Update *UpdateRule
	// Mean and Std, when set (one value per input), standardise the
	// gathered pixels with a StepStandardize: what model.Standardizer
	// does on the host.
	Mean, Std []float32
	// LabelSmoothing ε > 0 smooths a training program's gathered labels
	// with a StepSmooth: what train's label smoothing does on the host.
	LabelSmoothing float32
}

// Compile lowers the model's Gorgonia graph to a Program: the steps that
// compute the values Logits and Loss (and, in a training graph, WGrad and
// BGrad) need, in the graph's topological order, preceded by the gather
// steps that build X and Y from dataset bytes and, in a training graph,
// followed by the SGD steps W -= lr·dW and b -= lr·db.
//
// Nodes no output needs, such as Gorgonia's Read nodes and the gradient
// with respect to X that G.Grad also builds, are left out. Scalars and
// shapes the graph computes from constants (G.Grad's seed 1, SizeOf) are
// folded at compile time. An op Compile does not know fails it with an error
// that wraps ErrUnsupported and names the op.
func Compile(n model.Nodes, opts CompileOptions) (*Program, error) {
	p, err := newProgram(n)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	c := &compiler{p: p, nodes: n, vals: map[*G.Node]*value{}}
	if err := c.compile(); err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	// Before the buffers are shared, so that the new steps' operands are
	// remapped with the rest.
	if err := p.addOptions(opts); err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	if !opts.NoBufferReuse {
		p.shareTemps()
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("compile: internal error: %w", err)
	}
	return p, nil
}

// newProgram checks the graph's named nodes and lays out the buffers every
// program has.
func newProgram(n model.Nodes) (*Program, error) {
	if n.Graph == nil {
		return nil, errors.New("no graph")
	}
	for _, x := range []struct {
		name string
		node *G.Node
	}{{"X", n.X}, {"Y", n.Y}, {"W", n.W}, {"b", n.B}, {"logits", n.Logits}, {"loss", n.Loss}} {
		if x.node == nil {
			return nil, fmt.Errorf("graph has no %s node", x.name)
		}
		if x.node.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("%s is %v; only float32 graphs are supported", x.name, x.node.Dtype())
		}
	}
	if (n.WGrad == nil) != (n.BGrad == nil) {
		return nil, errors.New("graph has the gradient of only one of W and b")
	}
	xs, ys, ws, bs := dims(n.X), dims(n.Y), dims(n.W), dims(n.B)
	if len(xs) != 2 || len(ys) != 2 || len(ws) != 2 || len(bs) != 1 ||
		ys[0] != xs[0] || ws[0] != xs[1] || ws[1] != ys[1] || bs[0] != ys[1] {
		return nil, fmt.Errorf("shapes X %v, Y %v, W %v, b %v are not those of softmax regression", xs, ys, ws, bs)
	}
	batch, in, classes := xs[0], xs[1], ys[1]
	p := &Program{Batch: batch, In: in, Classes: classes,
		WGrad: NoBuffer, BGrad: NoBuffer, LR: NoBuffer, Logits: NoBuffer, Loss: NoBuffer}
	p.X = p.Add(Buffer{Name: "X", Role: RoleInput, Shape: xs})
	p.Y = p.Add(Buffer{Name: "Y", Role: RoleInput, Shape: ys})
	p.W = p.Add(Buffer{Name: "W", Role: RoleParam, Shape: ws})
	p.B = p.Add(Buffer{Name: "b", Role: RoleParam, Shape: bs})
	p.Pixels = p.Add(Buffer{Name: "pixels", Role: RoleDataset, Dtype: Uint8})
	p.Labels = p.Add(Buffer{Name: "labels", Role: RoleDataset, Dtype: Uint8})
	p.Index = p.Add(Buffer{Name: "index", Role: RoleIndex, Dtype: Int32, Shape: []int{batch}})
	if n.WGrad != nil {
		p.LR = p.Add(Buffer{Name: "lr", Role: RoleScalar, Shape: []int{}})
	}
	// The gather steps come first so that a batch can be built on the
	// device from the dataset's bytes; SetBatch writes X and Y instead.
	p.Steps = append(p.Steps,
		Step{Kind: StepGather, Phase: PhaseInput, Out: p.X, In: []BufferID{p.Pixels, p.Index}, Outer: batch, Len: in},
		Step{Kind: StepGather, Phase: PhaseInput, Out: p.Y, In: []BufferID{p.Labels, p.Index}, Outer: batch, Len: classes, OneHot: true})
	return p, nil
}

func (p *Program) Add(b Buffer) BufferID {
	p.Buffers = append(p.Buffers, b)
	return BufferID(len(p.Buffers) - 1)
}

// A value is what a graph node evaluates to: a buffer, or a constant known
// at compile time (materialized in a buffer only if a step reads it).
type value struct {
	buf   BufferID
	shape []int
	konst []float32 // a constant's elements, row-major; nil otherwise
}

type compiler struct {
	p      *Program
	nodes  model.Nodes
	vals   map[*G.Node]*value
	fwd    map[*G.Node]bool
	temps  int
	consts int
}

func (c *compiler) compile() error {
	n := c.nodes
	outputs := []*G.Node{n.Logits, n.Loss}
	if n.WGrad != nil {
		outputs = append(outputs, n.WGrad, n.BGrad)
	}
	live := c.ancestors(outputs...)
	c.fwd = c.ancestors(n.Logits, n.Loss)

	c.vals[n.X] = &value{buf: c.p.X, shape: dims(n.X)}
	c.vals[n.Y] = &value{buf: c.p.Y, shape: dims(n.Y)}
	c.vals[n.W] = &value{buf: c.p.W, shape: dims(n.W)}
	c.vals[n.B] = &value{buf: c.p.B, shape: dims(n.B)}

	sorted, err := G.Sort(n.Graph)
	if err != nil {
		return fmt.Errorf("sort graph: %w", err)
	}
	// G.Sort puts roots first; a node's operands come after it.
	for i := len(sorted) - 1; i >= 0; i-- {
		node := sorted[i]
		if !live[node] || c.vals[node] != nil {
			continue
		}
		if err := c.node(node); err != nil {
			return fmt.Errorf("node %s: %w", nodeName(node), err)
		}
	}

	p := c.p
	bind := func(node *G.Node, name string, role Role) (BufferID, error) {
		v := c.vals[node]
		if v == nil {
			return NoBuffer, fmt.Errorf("%s node %s was not compiled", name, nodeName(node))
		}
		if v.konst != nil || p.Buffers[v.buf].Role != RoleTemp {
			// Executors read outputs from buffers of their own; a graph
			// whose output is a constant or an input is not this model.
			return NoBuffer, fmt.Errorf("%s node %s is not computed by a step", name, nodeName(node))
		}
		p.Buffers[v.buf].Name, p.Buffers[v.buf].Role = name, role
		return v.buf, nil
	}
	if p.Logits, err = bind(n.Logits, "logits", RoleOutput); err != nil {
		return err
	}
	if p.Loss, err = bind(n.Loss, "loss", RoleOutput); err != nil {
		return err
	}
	if l := p.Buffers[p.Loss].Len(); l != 1 {
		return fmt.Errorf("loss has %d elements, want a scalar", l)
	}
	if n.WGrad == nil {
		return nil
	}
	if p.WGrad, err = bind(n.WGrad, "dW", RoleGrad); err != nil {
		return err
	}
	if p.BGrad, err = bind(n.BGrad, "db", RoleGrad); err != nil {
		return err
	}
	for _, u := range [][2]BufferID{{p.W, p.WGrad}, {p.B, p.BGrad}} {
		if a, b := p.Buffers[u[0]].Len(), p.Buffers[u[1]].Len(); a != b {
			return fmt.Errorf("%s has %d elements, its gradient %d", p.Buffers[u[0]].Name, a, b)
		}
		p.Steps = append(p.Steps, Step{Kind: StepSGD, Phase: PhaseUpdate, Out: u[0], In: []BufferID{u[1], p.LR}, N: p.Buffers[u[0]].Len()})
	}
	return nil
}

// ancestors returns the nodes whose values the given nodes need, them
// included. A SizeOf node needs only its operand's shape, which is static,
// so the walk does not go through it.
func (c *compiler) ancestors(roots ...*G.Node) map[*G.Node]bool {
	seen := map[*G.Node]bool{}
	stack := slices.Clone(roots)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		if n.Op() != nil && model.OpKind(n.Op()) == "sizeOp" {
			continue
		}
		stack = append(stack, c.children(n)...)
	}
	return seen
}

// children returns a node's operands, in order.
func (c *compiler) children(n *G.Node) []*G.Node {
	var kids []*G.Node
	it := c.nodes.Graph.From(n.ID())
	for it != nil && it.Next() {
		kids = append(kids, it.Node().(*G.Node))
	}
	return kids
}

// node lowers one node whose operands have values.
func (c *compiler) node(n *G.Node) error {
	op := n.Op()
	if op == nil {
		return errors.New("input node is none of X, Y, W and b")
	}
	if n.Dtype() != tensor.Float32 {
		return fmt.Errorf("dtype %v; only float32 is supported", n.Dtype())
	}
	kind := model.OpKind(op)
	kids := c.children(n)
	args := make([]*value, len(kids))
	for i, k := range kids {
		if args[i] = c.vals[k]; args[i] == nil && kind != "sizeOp" {
			return fmt.Errorf("operand %s has no value", nodeName(k))
		}
	}
	if fused, err := c.fused(n, op, args); fused || err != nil {
		return err
	}
	arity := map[string]int{"constantScalar": 0, "constantTensor": 0, "sizeOp": 1, "reshapeOp": 1,
		"elemUnaryOp": 1, "elemBinOp": 2, "linAlgBinOp": 2, "sumOp": 1, "maxOp": 1, "repeatOp": 2,
		"stopGradientOp": 1}
	want, known := arity[kind]
	if !known {
		return fmt.Errorf("%w %s %q", ErrUnsupported, kind, op)
	}
	if len(kids) != want {
		return fmt.Errorf("%s %q has %d operands, want %d", kind, op, len(kids), want)
	}
	shape := dims(n)
	switch kind {
	case "constantScalar", "constantTensor":
		return c.constant(n, op, shape)
	case "sizeOp":
		return c.size(n, op, kids[0])
	case "stopGradientOp":
		// model.StopGradient: the identity in the forward pass; that no
		// gradient flows through it is already in the graph G.Grad built.
		c.vals[n] = args[0]
		return nil
	case "reshapeOp":
		a := args[0]
		if shapeSize(a.shape) != shapeSize(shape) {
			return fmt.Errorf("reshape of %v to %v", a.shape, shape)
		}
		c.vals[n] = &value{buf: a.buf, shape: shape, konst: a.konst}
		return nil
	case "elemUnaryOp":
		return c.unary(n, op, args[0], shape)
	case "elemBinOp":
		return c.binary(n, op, args[0], args[1], shape)
	case "linAlgBinOp":
		return c.gemm(n, op, args[0], args[1], shape)
	case "sumOp", "maxOp":
		fn := FnSum
		if kind == "maxOp" {
			fn = FnMax
		}
		return c.reduce(n, op, fn, args[0], shape)
	case "repeatOp":
		return c.repeat(n, op, args[0], args[1], shape)
	}
	return fmt.Errorf("%w %s %q", ErrUnsupported, kind, op)
}

func (c *compiler) constant(n *G.Node, op G.Op, shape []int) error {
	v, err := op.Do()
	if err != nil {
		return fmt.Errorf("constant: %w", err)
	}
	var data []float32
	switch d := v.Data().(type) {
	case float32:
		data = []float32{d}
	case []float32:
		data = slices.Clone(d)
	default:
		return fmt.Errorf("constant of type %T; only float32 is supported", d)
	}
	if len(data) != shapeSize(shape) {
		return fmt.Errorf("constant has %d elements for shape %v", len(data), shape)
	}
	c.vals[n] = &value{buf: NoBuffer, shape: shape, konst: data}
	return nil
}

// size folds SizeOf: the size of its operand along an axis, which the
// static shape gives.
func (c *compiler) size(n *G.Node, op G.Op, of *G.Node) error {
	axis, err := intField(op, "axis")
	if err != nil {
		return err
	}
	s := dims(of)
	if axis < 0 || axis >= len(s) {
		return fmt.Errorf("SizeOf axis %d of shape %v", axis, s)
	}
	if val, err := intField(op, "val"); err == nil && val != 0 && val != s[axis] {
		return fmt.Errorf("SizeOf says %d, shape %v says %d", val, s, s[axis])
	}
	c.vals[n] = &value{buf: NoBuffer, shape: dims(n), konst: []float32{float32(s[axis])}}
	return nil
}

var unaryFns = map[string]Fn{"neg": FnNeg, "exp": FnExp, "ln": FnLn}

func (c *compiler) unary(n *G.Node, op G.Op, a *value, shape []int) error {
	fn, ok := unaryFns[op.String()]
	if !ok {
		return fmt.Errorf("%w elemUnaryOp %q", ErrUnsupported, op)
	}
	if shapeSize(a.shape) != shapeSize(shape) {
		return fmt.Errorf("%s of shape %v gives %v", op, a.shape, shape)
	}
	s := Step{Kind: StepUnary, Fn: fn, N: shapeSize(shape)}
	return c.emit(n, s, shape, a)
}

var binaryFns = map[string]Fn{"+": FnAdd, "-": FnSub, "⊙": FnMul, "÷": FnDiv, "==": FnEq}

func (c *compiler) binary(n *G.Node, op G.Op, a, b *value, shape []int) error {
	// elemBinOp prints as "<operator> <retSame>".
	f := strings.Fields(op.String())
	fn, ok := FnEq, len(f) == 2
	if ok {
		fn, ok = binaryFns[f[0]]
	}
	if !ok {
		return fmt.Errorf("%w elemBinOp %q", ErrUnsupported, op)
	}
	kind := StepBinary
	if fn == FnEq {
		// Without retSame a comparison gives booleans, which no step
		// produces; G.Grad's max gradient asks for float 1s and 0s.
		if f[1] != "true" {
			return fmt.Errorf("%w elemBinOp %q returning booleans", ErrUnsupported, op)
		}
		kind = StepCompare
	}
	nOut, na, nb := shapeSize(shape), shapeSize(a.shape), shapeSize(b.shape)
	s := Step{Kind: kind, Fn: fn, N: nOut}
	switch {
	case na == nOut && nb == nOut:
	case na == 1 && nb == nOut:
		s.Scalar[0] = true
	case nb == 1 && na == nOut:
		s.Scalar[1] = true
	default:
		return fmt.Errorf("%s of shapes %v and %v gives %v", op, a.shape, b.shape, shape)
	}
	return c.emit(n, s, shape, a, b)
}

func (c *compiler) gemm(n *G.Node, op G.Op, a, b *value, shape []int) error {
	if len(a.shape) != 2 || len(b.shape) != 2 || len(shape) != 2 {
		return fmt.Errorf("%w linAlgBinOp %q of shapes %v and %v (only matrix × matrix)", ErrUnsupported, op, a.shape, b.shape)
	}
	ta, err := boolField(op, "transA")
	if err != nil {
		return err
	}
	tb, err := boolField(op, "transB")
	if err != nil {
		return err
	}
	g, err := c.gemmStep(op, a, b, ta, tb, shape)
	if err != nil {
		return err
	}
	return c.emit(n, Step{Kind: StepGEMM, GEMM: g}, shape, a, b)
}

func (c *compiler) reduce(n *G.Node, op G.Op, fn Fn, a *value, shape []int) error {
	along, err := intsField(op, "along")
	if err != nil {
		return err
	}
	if len(along) == 0 {
		for i := range a.shape {
			along = append(along, i)
		}
	}
	along = slices.Clone(along)
	slices.Sort(along)
	along = slices.Compact(along)
	first, last := along[0], along[len(along)-1]
	if first < 0 || last >= len(a.shape) || last-first+1 != len(along) {
		// Reducing axes that are not next to each other would need
		// a transpose first; the model never asks for it.
		return fmt.Errorf("%w %s %q of shape %v (axes must be contiguous)", ErrUnsupported, model.OpKind(op), op, a.shape)
	}
	s := Step{Kind: StepReduce, Fn: fn,
		Outer: shapeSize(a.shape[:first]), Len: shapeSize(a.shape[first : last+1]), Inner: shapeSize(a.shape[last+1:])}
	if s.Outer*s.Inner != shapeSize(shape) {
		return fmt.Errorf("%s of shape %v gives %v", op, a.shape, shape)
	}
	return c.emit(n, s, shape, a)
}

func (c *compiler) repeat(n *G.Node, op G.Op, a, count *value, shape []int) error {
	along, err := intField(op, "along")
	if err != nil {
		return err
	}
	if count.konst == nil || len(count.konst) != 1 {
		return fmt.Errorf("%s: the repeat count is not a constant scalar", op)
	}
	r := count.konst[0]
	if r < 1 || r != float32(math.Trunc(float64(r))) {
		return fmt.Errorf("%s: repeat count %v", op, r)
	}
	if along < 0 || along >= len(shape) {
		return fmt.Errorf("%s: axis %d of output shape %v", op, along, shape)
	}
	// Gorgonia's repeat is NumPy's: each element along the axis is
	// repeated in place. Reading the geometry from the output shape
	// covers the cases where repeat extends a scalar or a vector.
	s := Step{Kind: StepRepeat, Reps: int(r), Outer: shapeSize(shape[:along]), Inner: shapeSize(shape[along+1:])}
	if shape[along]%s.Reps != 0 {
		return fmt.Errorf("%s: output shape %v is not %d repeats", op, shape, s.Reps)
	}
	s.Len = shape[along] / s.Reps
	if s.Outer*s.Len*s.Inner != shapeSize(a.shape) {
		return fmt.Errorf("%s of shape %v gives %v", op, a.shape, shape)
	}
	return c.emit(n, s, shape, a)
}

// emit adds the step s computing n from operands into a new temporary of
// the given shape or, when every operand is a constant, folds it: the CPU
// semantics compute the constant here, once.
func (c *compiler) emit(n *G.Node, s Step, shape []int, operands ...*value) error {
	v, err := c.step(n, "", s, shape, operands...)
	if err != nil {
		return err
	}
	c.vals[n] = v
	return nil
}

// step adds s, one of the steps computing n (part names which, for a node
// lowered to several steps), and returns the value it computes.
func (c *compiler) step(n *G.Node, part string, s Step, shape []int, operands ...*value) (*value, error) {
	allConst := true
	for _, a := range operands {
		allConst = allConst && a.konst != nil
	}
	if allConst {
		in := make([][]float32, len(operands))
		for i, a := range operands {
			in[i] = a.konst
		}
		out := make([]float32, shapeSize(shape))
		if err := ExecFloat(&s, out, in); err != nil {
			return nil, fmt.Errorf("fold constant: %w", err)
		}
		return &value{buf: NoBuffer, shape: shape, konst: out}, nil
	}
	s.In = make([]BufferID, len(operands))
	for i, a := range operands {
		s.In[i] = c.operand(a)
	}
	s.Out = c.p.Add(Buffer{Name: fmt.Sprintf("t%d", c.temps), Role: RoleTemp, Shape: shape})
	c.temps++
	s.Phase = PhaseBackward
	if c.fwd[n] {
		s.Phase = PhaseForward
	}
	s.Source = fmt.Sprintf("%%%x = %s%s", n.ID(), n.Name(), part)
	c.p.Steps = append(c.p.Steps, s)
	return &value{buf: s.Out, shape: shape}, nil
}

// fused lowers the ops of model.Fuse, which the compiler knows by their
// types, and reports whether n was one. Each maps to the step whose CPU
// semantics are the op's own arithmetic (semantics.go calls the same
// model functions the tape machine runs).
func (c *compiler) fused(n *G.Node, op G.Op, args []*value) (bool, error) {
	shape := dims(n)
	want := op.Arity()
	switch op.(type) {
	case *model.LinearOp, *model.BiasAddOp, *model.GemmOp, *model.ColSumOp, *model.SoftmaxCEOp, *model.SoftmaxCEGradOp:
		if len(args) != want {
			return true, fmt.Errorf("%v has %d operands, want %d", op, len(args), want)
		}
	default:
		return false, nil
	}
	matrix := func(v *value) error {
		if len(v.shape) != 2 {
			return fmt.Errorf("%v of an operand of shape %v", op, v.shape)
		}
		return nil
	}
	for _, a := range args {
		if a.konst != nil && len(a.shape) == 2 {
			// The fused ops come from the model's inputs; a constant
			// matrix means a graph this compiler was not written for.
			return true, fmt.Errorf("%w %v of a constant matrix", ErrUnsupported, op)
		}
	}
	switch op := op.(type) {
	case *model.LinearOp:
		// X·W into a temporary, then the bias.
		x, w, b := args[0], args[1], args[2]
		if err := matrix(x); err != nil {
			return true, err
		}
		g, err := c.gemmStep(op, x, w, false, false, shape)
		if err != nil {
			return true, err
		}
		xw, err := c.step(n, " (X·W)", Step{Kind: StepGEMM, GEMM: g}, shape, x, w)
		if err != nil {
			return true, err
		}
		return true, c.biasAdd(n, xw, b, shape)
	case *model.BiasAddOp:
		if err := matrix(args[0]); err != nil {
			return true, err
		}
		return true, c.biasAdd(n, args[0], args[1], shape)
	case *model.GemmOp:
		g, err := c.gemmStep(op, args[0], args[1], op.TransA, op.TransB, shape)
		if err != nil {
			return true, err
		}
		return true, c.emit(n, Step{Kind: StepGEMM, GEMM: g}, shape, args[0], args[1])
	case *model.ColSumOp:
		a := args[0]
		if err := matrix(a); err != nil {
			return true, err
		}
		if shapeSize(shape) != a.shape[1] {
			return true, fmt.Errorf("%v of shape %v gives %v", op, a.shape, shape)
		}
		return true, c.emit(n, Step{Kind: StepReduce, Fn: FnSum, Outer: 1, Len: a.shape[0], Inner: a.shape[1]}, shape, a)
	case *model.SoftmaxCEOp:
		o, y := args[0], args[1]
		if err := matrix(o); err != nil {
			return true, err
		}
		if !slices.Equal(o.shape, y.shape) || len(shape) != 0 {
			return true, fmt.Errorf("%v of shapes %v and %v gives %v", op, o.shape, y.shape, shape)
		}
		return true, c.emit(n, Step{Kind: StepSoftmaxXent, Outer: o.shape[0], Len: o.shape[1]}, shape, o, y)
	case *model.SoftmaxCEGradOp:
		// The third operand, the loss, only orders the op after the
		// forward pass on the tape machine: the step recomputes the
		// probabilities from the logits.
		o, y, g := args[0], args[1], args[3]
		if err := matrix(o); err != nil {
			return true, err
		}
		if !slices.Equal(o.shape, y.shape) || !slices.Equal(o.shape, shape) || shapeSize(g.shape) != 1 {
			return true, fmt.Errorf("%v of shapes %v, %v and %v gives %v", op, o.shape, y.shape, g.shape, shape)
		}
		return true, c.emit(n, Step{Kind: StepSoftmaxXentGrad, Outer: o.shape[0], Len: o.shape[1]}, shape, o, y, g)
	}
	return false, nil
}

// gemmStep describes op(a)·op(b) giving shape.
func (c *compiler) gemmStep(op G.Op, a, b *value, ta, tb bool, shape []int) (GEMM, error) {
	if len(a.shape) != 2 || len(b.shape) != 2 || len(shape) != 2 {
		return GEMM{}, fmt.Errorf("%v of shapes %v and %v", op, a.shape, b.shape)
	}
	g := GEMM{TransA: ta, TransB: tb, LDA: a.shape[1], LDB: b.shape[1]}
	g.M, g.K = a.shape[0], a.shape[1]
	if ta {
		g.M, g.K = g.K, g.M
	}
	k, nn := b.shape[0], b.shape[1]
	if tb {
		k, nn = nn, k
	}
	g.N, g.LDC = nn, nn
	if k != g.K || shape[0] != g.M || shape[1] != g.N {
		return GEMM{}, fmt.Errorf("%v of shapes %v and %v gives %v", op, a.shape, b.shape, shape)
	}
	return g, nil
}

// biasAdd emits n = a + b with the vector b added to each row of a.
func (c *compiler) biasAdd(n *G.Node, a, b *value, shape []int) error {
	if !slices.Equal(a.shape, shape) || shapeSize(b.shape) != shape[1] {
		return fmt.Errorf("bias add of shapes %v and %v gives %v", a.shape, b.shape, shape)
	}
	return c.emit(n, Step{Kind: StepBiasAdd, N: shapeSize(shape), Len: shape[1]}, shape, a, b)
}

// operand returns the buffer of a value, giving a constant a buffer the
// first time a step reads it.
func (c *compiler) operand(a *value) BufferID {
	if a.buf == NoBuffer {
		shape := a.shape
		if len(a.konst) == 1 {
			shape = []int{}
		}
		a.buf = c.p.Add(Buffer{Name: fmt.Sprintf("c%d", c.consts), Role: RoleConst, Shape: shape, Init: a.konst})
		c.consts++
	}
	return a.buf
}

// shareTemps lets temporaries whose lifetimes do not overlap share a
// buffer: a linear scan over the steps, where a value's buffer is free
// after the last step that reads it. A step's output is taken before its
// operands are freed, so no step writes a buffer it reads.
func (p *Program) shareTemps() {
	last := make([]int, len(p.Buffers))
	for i := range last {
		last[i] = -1
	}
	for i, s := range p.Steps {
		for _, id := range s.In {
			last[id] = i
		}
		last[s.Out] = max(last[s.Out], i)
	}
	remap := make([]BufferID, len(p.Buffers))
	var bufs []Buffer
	for id, b := range p.Buffers {
		remap[id] = NoBuffer
		if b.Role != RoleTemp {
			remap[id] = BufferID(len(bufs))
			bufs = append(bufs, b)
		}
	}
	free := map[int][]BufferID{} // by length
	users := map[BufferID][]int{}
	temps := 0
	for i, s := range p.Steps {
		if b := p.Buffers[s.Out]; b.Role == RoleTemp && remap[s.Out] == NoBuffer {
			n := b.Len()
			if f := free[n]; len(f) > 0 {
				remap[s.Out], free[n] = f[len(f)-1], f[:len(f)-1]
			} else {
				remap[s.Out] = BufferID(len(bufs))
				bufs = append(bufs, Buffer{Name: fmt.Sprintf("t%d", temps), Role: RoleTemp, Shape: b.Shape})
				temps++
			}
			users[remap[s.Out]] = append(users[remap[s.Out]], int(s.Out))
		}
		done := map[BufferID]bool{}
		for _, id := range append(slices.Clone(s.In), s.Out) {
			if p.Buffers[id].Role == RoleTemp && last[id] == i && !done[id] {
				done[id] = true
				n := p.Buffers[id].Len()
				free[n] = append(free[n], remap[id])
			}
		}
	}
	for id, u := range users {
		if len(u) > 1 {
			bufs[id].Shape = []int{bufs[id].Len()}
		}
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		s.Out = remap[s.Out]
		s.In = slices.Clone(s.In)
		for j, id := range s.In {
			s.In[j] = remap[id]
		}
	}
	for _, id := range []*BufferID{&p.X, &p.Y, &p.W, &p.B, &p.Logits, &p.Loss, &p.WGrad, &p.BGrad, &p.Pixels, &p.Labels, &p.Index, &p.LR} {
		if *id != NoBuffer {
			*id = remap[*id]
		}
	}
	if o := p.Optim; o != nil {
		o.VW, o.VB, o.Hyper = remap[o.VW], remap[o.VB], remap[o.Hyper]
	}
	p.Buffers = bufs
}

// Validate checks that every step's buffers exist and have the sizes its
// geometry says, so executors and kernels can index without checks.
func (p *Program) Validate() error {
	if p.Batch < 1 || p.In < 1 || p.Classes < 1 {
		return fmt.Errorf("batch %d, %d inputs, %d classes", p.Batch, p.In, p.Classes)
	}
	ids := []BufferID{p.X, p.Y, p.W, p.B, p.Logits, p.Loss, p.Pixels, p.Labels, p.Index}
	if p.Train() {
		ids = append(ids, p.WGrad, p.BGrad, p.LR)
	} else if p.BGrad != NoBuffer || p.LR != NoBuffer {
		return errors.New("forward-only program with a gradient or learning-rate buffer")
	}
	for _, id := range ids {
		if id < 0 || int(id) >= len(p.Buffers) {
			return fmt.Errorf("named buffer %d out of range", id)
		}
	}
	want := map[BufferID]int{p.X: p.Batch * p.In, p.Y: p.Batch * p.Classes, p.W: p.In * p.Classes, p.B: p.Classes,
		p.Logits: p.Batch * p.Classes, p.Loss: 1, p.Index: p.Batch}
	if p.Train() {
		want[p.WGrad], want[p.BGrad], want[p.LR] = p.In*p.Classes, p.Classes, 1
	}
	for id, n := range want {
		if l := p.Buffers[id].Len(); l != n {
			return fmt.Errorf("buffer %s has %d elements, want %d", p.Buffers[id].Name, l, n)
		}
	}
	if err := p.validateOptim(); err != nil {
		return err
	}
	for i := range p.Steps {
		if err := p.validateStep(&p.Steps[i]); err != nil {
			return fmt.Errorf("step %d (%s): %w", i, p.Steps[i].Kind, err)
		}
	}
	return nil
}

func (p *Program) validateStep(s *Step) error {
	for _, id := range append(slices.Clone(s.In), s.Out) {
		if id < 0 || int(id) >= len(p.Buffers) {
			return fmt.Errorf("buffer %d out of range", id)
		}
	}
	if s.Kind != StepSGD && slices.Contains(s.In, s.Out) {
		return fmt.Errorf("writes %s, which it reads", p.Buffers[s.Out].Name)
	}
	length := func(id BufferID) int { return p.Buffers[id].Len() }
	f32 := func(ids ...BufferID) error {
		for _, id := range ids {
			if b := p.Buffers[id]; b.Dtype != Float32 || b.Shape == nil {
				return fmt.Errorf("buffer %s is %s, want sized f32", b.Name, b.Dtype)
			}
		}
		return nil
	}
	arity := map[StepKind]int{StepGather: 2, StepGEMM: 2, StepUnary: 1, StepBinary: 2, StepCompare: 2, StepRepeat: 1, StepReduce: 1, StepSGD: 2,
		StepUpdate: 3, StepStandardize: 3, StepSmooth: 2,
		StepBiasAdd: 2, StepSoftmaxXent: 2, StepSoftmaxXentGrad: 3}
	if n, ok := arity[s.Kind]; !ok || len(s.In) != n {
		return fmt.Errorf("%d operands for kind %d", len(s.In), s.Kind)
	}
	if s.Kind != StepGather && s.Kind != StepStandardize && s.Kind != StepSmooth {
		if err := f32(append(slices.Clone(s.In), s.Out)...); err != nil {
			return err
		}
	}
	switch s.Kind {
	case StepGather:
		data, idx := p.Buffers[s.In[0]], p.Buffers[s.In[1]]
		if data.Role != RoleDataset || data.Dtype != Uint8 || idx.Dtype != Int32 || length(s.In[1]) != s.Outer {
			return errors.New("gather from the wrong buffers")
		}
		width := p.In
		if s.OneHot {
			width = p.Classes
		}
		if s.Outer != p.Batch || s.Len != width || length(s.Out) != s.Outer*s.Len {
			return fmt.Errorf("gather of %d×%d into %d elements", s.Outer, s.Len, length(s.Out))
		}
	case StepGEMM:
		g := s.GEMM
		ar, ac, br, bc := g.M, g.K, g.K, g.N
		if g.TransA {
			ar, ac = ac, ar
		}
		if g.TransB {
			br, bc = bc, br
		}
		if g.M < 1 || g.N < 1 || g.K < 1 || g.LDA != ac || g.LDB != bc || g.LDC != g.N ||
			length(s.In[0]) != ar*ac || length(s.In[1]) != br*bc || length(s.Out) != g.M*g.N {
			return fmt.Errorf("GEMM %+v over %d, %d into %d elements", g, length(s.In[0]), length(s.In[1]), length(s.Out))
		}
	case StepUnary:
		if s.Fn != FnNeg && s.Fn != FnExp && s.Fn != FnLn {
			return fmt.Errorf("function %s", s.Fn)
		}
		if length(s.Out) != s.N || length(s.In[0]) != s.N {
			return fmt.Errorf("%d elements from %d, N %d", length(s.Out), length(s.In[0]), s.N)
		}
	case StepBinary, StepCompare:
		if (s.Kind == StepCompare) != (s.Fn == FnEq) || s.Fn < FnAdd || s.Fn > FnEq {
			return fmt.Errorf("function %s", s.Fn)
		}
		if length(s.Out) != s.N {
			return fmt.Errorf("%d elements, N %d", length(s.Out), s.N)
		}
		for i, id := range s.In {
			if l := length(id); l != s.N && !(s.Scalar[i] && l == 1) {
				return fmt.Errorf("operand %d has %d elements, N %d", i, l, s.N)
			}
		}
	case StepRepeat:
		if s.Reps < 1 || s.Outer < 1 || s.Len < 1 || s.Inner < 1 ||
			length(s.In[0]) != s.Outer*s.Len*s.Inner || length(s.Out) != s.Outer*s.Len*s.Reps*s.Inner {
			return fmt.Errorf("repeat %d×%d×%d ×%d from %d into %d elements", s.Outer, s.Len, s.Inner, s.Reps, length(s.In[0]), length(s.Out))
		}
	case StepReduce:
		if s.Fn != FnSum && s.Fn != FnMax {
			return fmt.Errorf("function %s", s.Fn)
		}
		if s.Outer < 1 || s.Len < 1 || s.Inner < 1 ||
			length(s.In[0]) != s.Outer*s.Len*s.Inner || length(s.Out) != s.Outer*s.Inner {
			return fmt.Errorf("reduce %d×%d×%d from %d into %d elements", s.Outer, s.Len, s.Inner, length(s.In[0]), length(s.Out))
		}
	case StepSGD:
		if p.Buffers[s.Out].Role != RoleParam || length(s.Out) != s.N || length(s.In[0]) != s.N || length(s.In[1]) != 1 {
			return errors.New("SGD over mismatched buffers")
		}
	case StepUpdate, StepStandardize, StepSmooth:
		return p.validateOptimStep(s, f32)
	case StepBiasAdd:
		if s.Len < 1 || s.N < 1 || s.N%s.Len != 0 || length(s.Out) != s.N || length(s.In[0]) != s.N || length(s.In[1]) != s.Len {
			return fmt.Errorf("bias add of %d elements in rows of %d from %d and %d into %d", s.N, s.Len, length(s.In[0]), length(s.In[1]), length(s.Out))
		}
	case StepSoftmaxXent, StepSoftmaxXentGrad:
		n := s.Outer * s.Len
		want := n
		if s.Kind == StepSoftmaxXent {
			want = 1
		} else if length(s.In[2]) != 1 {
			return errors.New("cross-entropy derivative without a scalar gradient")
		}
		if s.Outer < 1 || s.Len < 1 || length(s.In[0]) != n || length(s.In[1]) != n || length(s.Out) != want {
			return fmt.Errorf("%s of %d×%d from %d and %d into %d elements", s.Kind, s.Outer, s.Len, length(s.In[0]), length(s.In[1]), length(s.Out))
		}
	}
	return nil
}

// field returns an op's field by name. Reading an unexported field's int or
// bool through reflect is allowed; a field that is gone (another Gorgonia
// version) is an error, not a guess.
func field(op G.Op, name string) (reflect.Value, error) {
	v := reflect.Indirect(reflect.ValueOf(op))
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("%s is not a struct", model.OpKind(op))
	}
	f := v.FieldByName(name)
	if !f.IsValid() {
		return reflect.Value{}, fmt.Errorf("op %s of Gorgonia has no field %q: not the Gorgonia version this compiler reads", model.OpKind(op), name)
	}
	return f, nil
}

func intField(op G.Op, name string) (int, error) {
	f, err := field(op, name)
	if err != nil {
		return 0, err
	}
	if f.Kind() != reflect.Int {
		return 0, fmt.Errorf("field %s.%s of Gorgonia is %s, want int", model.OpKind(op), name, f.Kind())
	}
	return int(f.Int()), nil
}

func boolField(op G.Op, name string) (bool, error) {
	f, err := field(op, name)
	if err != nil {
		return false, err
	}
	if f.Kind() != reflect.Bool {
		return false, fmt.Errorf("field %s.%s of Gorgonia is %s, want bool", model.OpKind(op), name, f.Kind())
	}
	return f.Bool(), nil
}

func intsField(op G.Op, name string) ([]int, error) {
	f, err := field(op, name)
	if err != nil {
		return nil, err
	}
	if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Int {
		return nil, fmt.Errorf("field %s.%s of Gorgonia is %s, want []int", model.OpKind(op), name, f.Type())
	}
	out := make([]int, f.Len())
	for i := range out {
		out[i] = int(f.Index(i).Int())
	}
	return out, nil
}

// dims returns a node's static shape; a scalar's is empty, never nil.
func dims(n *G.Node) []int {
	return append([]int{}, n.Shape()...)
}

// shapeSize returns the number of elements of a shape; 1 for a scalar.
func shapeSize(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func nodeName(n *G.Node) string {
	return fmt.Sprintf("%%%x %q", n.ID(), n.Name())
}
