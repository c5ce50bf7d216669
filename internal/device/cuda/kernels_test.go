package cuda

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/devicetest"
	"github.com/softmaxctl/softmaxctl/internal/device/program"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

const kernelFile = "kernels/kernels.cu"

func readKernels(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(kernelFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// TestKernelOpCodes checks that the OP_* numbers of the kernels are the
// values of program.Fn.
func TestKernelOpCodes(t *testing.T) {
	src := readKernels(t)
	defs := regexp.MustCompile(`(?m)^#define OP_([A-Z]+) (\d+)$`).FindAllStringSubmatch(src, -1)
	if len(defs) != len(program.Fns()) {
		t.Errorf("kernels define %d OP_ codes, program.Fn has %d functions", len(defs), len(program.Fns()))
	}
	for _, d := range defs {
		v, _ := strconv.Atoi(d[2])
		if got := program.Fn(v).String(); got != strings.ToLower(d[1]) {
			t.Errorf("OP_%s is %d, which is program.Fn %s", d[1], v, got)
		}
	}
}

// TestKernelBlockSize checks that the block size the cross-entropy
// kernels reduce over is the one the launch plan launches them with: with
// another, the tree would skip threads or read past its shared array.
func TestKernelBlockSize(t *testing.T) {
	m := regexp.MustCompile(`(?m)^#define XENT_THREADS (\d+)$`).FindStringSubmatch(readKernels(t))
	if m == nil {
		t.Fatal("kernels.cu does not define XENT_THREADS")
	}
	if n, _ := strconv.Atoi(m[1]); n != xentThreads || n&(n-1) != 0 {
		t.Errorf("XENT_THREADS is %d, launch.go's xentThreads %d; both must be the same power of two", n, xentThreads)
	}
}

// TestKernelSignatures checks that the kernels are the ones the launch
// plan names and that every parameter is 8 bytes wide, as
// gorgonia.org/cu's Function.Launch copies 8 bytes per argument: an int or
// a float parameter would get garbage on the GPU.
func TestKernelSignatures(t *testing.T) {
	src := readKernels(t)
	sigs := regexp.MustCompile(`extern "C" __global__ void (\w+)\(([^)]*)\)`).FindAllStringSubmatch(src, -1)
	var names []string
	param := regexp.MustCompile(`^(long long \w+|(const )?(float|int|unsigned char) \*\w+)$`)
	for _, s := range sigs {
		names = append(names, s[1])
		for _, p := range strings.Split(s[2], ",") {
			if p = strings.Join(strings.Fields(p), " "); !param.MatchString(p) {
				t.Errorf("kernel %s: parameter %q is not a pointer or a long long", s[1], p)
			}
		}
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(kernelNames))
	if !slices.Equal(names, want) {
		t.Errorf("kernels.cu defines %v, the launch plan uses %v", names, want)
	}
}

// buildKernelHost compiles testdata/kernelhost.cc, which runs the kernels
// on the host: the threads of each launch one after another (those kernels
// share nothing between threads, so that is what a GPU computes), the
// threads of a block of a kernel that reduces across its block as
// concurrent threads with a barrier, and GEMMs with a reference
// column-major Sgemm. Each buffer lies against a PROT_NONE guard page, so
// a kernel indexing past its end (or, in runKernelHost's second run,
// before its start) faults; the harness is built with the address and
// undefined-behaviour sanitizers too where the compiler has them. Without
// a C++ compiler the test is skipped. defines are added to the compiler's
// arguments.
func buildKernelHost(t *testing.T, defines ...string) string {
	t.Helper()
	cxx, err := exec.LookPath("g++")
	if err != nil {
		if cxx, err = exec.LookPath("clang++"); err != nil {
			testenv.Skip(t, "no C++ compiler (g++ or clang++) to run the kernels on the host")
		}
	}
	harness := filepath.Join(t.TempDir(), "kernelhost")
	args := append(defines, "-std=c++17", "-O1", "-ffp-contract=off", "-pthread", "-Ikernels", "-o", harness, "testdata/kernelhost.cc")
	if out, err := exec.Command(cxx, append([]string{"-fsanitize=address,undefined"}, args...)...).CombinedOutput(); err != nil {
		t.Logf("building with sanitizers failed, building without: %s", out)
		if out, err := exec.Command(cxx, args...).CombinedOutput(); err != nil {
			t.Fatalf("compile kernels for the host: %v\n%s", err, out)
		}
	}
	return harness
}

// runKernelHost runs the launches of plan over buffers (each a []float32,
// []int32 or []byte, in program.BufferID order) on the host and returns the
// buffers' final contents. It runs them twice: with every buffer against
// the guard page after it, then against the one before it; both runs must
// end well, with the same contents.
func runKernelHost(t *testing.T, harness string, buffers []any, plan []launch) []any {
	t.Helper()
	in := kernelHostInput(t, buffers, plan)
	guards := []string{"end", "start"}
	var out, stderr [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i, guard := range guards { // at once: each is one thread most of the time
		cmds[i] = exec.Command(harness, guard)
		cmds[i].Stdin, cmds[i].Stdout, cmds[i].Stderr = bytes.NewReader(in), &out[i], &stderr[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("kernelhost %s: %v\n%s", guards[i], err, stderr[i].String())
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Fatal("kernelhost gives other results with the buffers against the guard page before them")
	}
	r := bytes.NewReader(out[0].Bytes())
	res := make([]any, len(buffers))
	for i, b := range buffers {
		switch b := b.(type) {
		case []float32:
			res[i] = make([]float32, len(b))
		case []int32:
			res[i] = make([]int32, len(b))
		case []byte:
			res[i] = make([]byte, len(b))
		}
		if err := binary.Read(r, binary.LittleEndian, res[i]); err != nil {
			t.Fatalf("read buffer %d: %v", i, err)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("kernelhost wrote %d bytes more than the buffers hold", r.Len())
	}
	return res
}

// kernelHostInput encodes buffers and plan as kernelhost reads them.
func kernelHostInput(t *testing.T, buffers []any, plan []launch) []byte {
	t.Helper()
	var in bytes.Buffer
	w64 := func(v int64) { binary.Write(&in, binary.LittleEndian, v) }
	in.WriteString("SMXKRN01")
	w64(int64(len(buffers)))
	for _, b := range buffers {
		var dtype program.Dtype
		switch b.(type) {
		case []float32:
			dtype = program.Float32
		case []int32:
			dtype = program.Int32
		case []byte:
			dtype = program.Uint8
		default:
			t.Fatalf("buffer of type %T", b)
		}
		w64(int64(dtype))
		w64(int64(binary.Size(b) / dtype.Size()))
		binary.Write(&in, binary.LittleEndian, b)
	}
	w64(int64(len(plan)))
	for _, l := range plan {
		if l.kernel == "" {
			g := l.gemm
			w64(1)
			for _, v := range []int{b2int(g.TransA), b2int(g.TransB), g.M, g.N, g.K, int(g.A), g.LDA, int(g.B), g.LDB, int(g.C), g.LDC} {
				w64(int64(v))
			}
			continue
		}
		w64(0)
		w64(int64(len(l.kernel)))
		in.WriteString(l.kernel)
		w64(int64(l.grid))
		w64(int64(l.block))
		w64(int64(len(l.args)))
		for _, a := range l.args {
			if a.buf != program.NoBuffer {
				w64(0)
				w64(int64(a.buf))
			} else {
				w64(1)
				w64(a.val)
			}
		}
	}
	return in.Bytes()
}

// nanFloats returns n NaNs: the contents of a buffer no step has written.
func nanFloats(n int) []float32 {
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(math.NaN())
	}
	return f
}

// TestKernelsOnHost runs the model's whole training step through the
// launch plan on the host-compiled kernels: gather from dataset bytes with
// padding rows, forward, backward and SGD. Every buffer must match the
// CPU executor's.
func TestKernelsOnHost(t *testing.T) {
	harness := buildKernelHost(t)
	for _, k := range devicetest.GraphKinds() {
		t.Run(k.Name, func(t *testing.T) { testKernelsOnHost(t, harness, k.Opts) })
	}
}

func testKernelsOnHost(t *testing.T, harness string, opts []model.GraphOption) {
	const batch, n, rows = 64, 300, 45
	m, gr := devicetest.NewGraph(t, batch, true, 5, opts...)
	p, e := devicetest.Compile(t, gr, program.CompileOptions{})
	plan, err := planLaunches(p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	pix, labels := devicetest.RandomDataset(rng, n)
	idx := rng.Perm(n)[:rows]
	const lr = 0.25

	// The buffers as a GPU executor holds them before the step:
	// parameters, constants, dataset, index and learning rate set, every
	// other float NaN so that reading an unwritten element shows.
	index := make([]int32, batch)
	if err := p.IndexRows(index, idx, n); err != nil {
		t.Fatal(err)
	}
	buffers := make([]any, len(p.Buffers))
	for id, b := range p.Buffers {
		switch program.BufferID(id) {
		case p.W:
			buffers[id] = m.W
		case p.B:
			buffers[id] = m.B
		case p.LR:
			buffers[id] = []float32{lr}
		case p.Pixels:
			buffers[id] = pix
		case p.Labels:
			buffers[id] = labels
		case p.Index:
			buffers[id] = index
		default:
			f := nanFloats(b.Len())
			if b.Role == program.RoleConst {
				copy(f, b.Init)
			}
			buffers[id] = f
		}
	}
	got := runKernelHost(t, harness, buffers, plan)

	// The same step on the CPU executor.
	if err := e.LoadDataset(pix, labels); err != nil {
		t.Fatal(err)
	}
	if err := e.GatherBatch(idx); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	if err := e.SGD(lr); err != nil {
		t.Fatal(err)
	}
	for id, b := range p.Buffers {
		if b.Dtype != program.Float32 {
			continue
		}
		want := e.Buffer(program.BufferID(id))
		if slices.ContainsFunc(want, func(v float32) bool { return v != v }) {
			t.Errorf("CPU executor left NaN in %s", b.Name)
		}
		// Only exp and log may differ (libm against Go's math); every
		// other operation is the same float32 arithmetic in the same order.
		worst := devicetest.CompareSlices(t, b.Name, got[id].([]float32), want, 1e-6, 1e-5)
		t.Logf("%-6s %-6s max |Δ| %.3g", b.Name, b.Role, worst)
	}
}

// TestKernelStepsOnHost runs one step of every kind, with geometries the
// model's graph does not use (repeats of axes longer than 1, reductions
// with an inner axis, scalar operands on either side, every program.GEMM
// transpose, partial blocks), on the host-compiled kernels and compares
// each output with the CPU semantics.
func TestKernelStepsOnHost(t *testing.T) {
	harness := buildKernelHost(t)
	rng := rand.New(rand.NewPCG(9, 9))
	p := &program.Program{}
	var init []any
	buf := func(data any) program.BufferID {
		init = append(init, data)
		b := program.Buffer{Name: fmt.Sprintf("b%d", len(init)-1)}
		switch d := data.(type) {
		case []float32:
			b.Shape = []int{len(d)}
		case []int32:
			b.Dtype, b.Shape = program.Int32, []int{len(d)}
		case []byte:
			b.Dtype = program.Uint8
		}
		return p.Add(b)
	}
	random := func(n int, lo, hi float32) program.BufferID {
		d := make([]float32, n)
		for i := range d {
			d[i] = lo + (hi-lo)*rng.Float32()
		}
		// Some exact ties, for eq.
		for i := 0; i < n; i += 7 {
			d[i] = 0.5
		}
		return buf(d)
	}
	out := func(n int) program.BufferID { return buf(nanFloats(n)) }
	add := func(s program.Step) { p.Steps = append(p.Steps, s) }

	const n = 300 // more than one block, the last one partial
	a, b, pos, one := random(n, -3, 3), random(n, -3, 3), random(n, 0.1, 5), random(1, -2, 2)
	for _, fn := range []program.Fn{program.FnNeg, program.FnExp, program.FnLn} {
		add(program.Step{Kind: program.StepUnary, Fn: fn, N: n, In: []program.BufferID{pos}, Out: out(n)})
	}
	for _, fn := range []program.Fn{program.FnAdd, program.FnSub, program.FnMul, program.FnDiv, program.FnEq} {
		kind := program.StepBinary
		if fn == program.FnEq {
			kind = program.StepCompare
		}
		add(program.Step{Kind: kind, Fn: fn, N: n, In: []program.BufferID{a, b}, Out: out(n)})
		add(program.Step{Kind: kind, Fn: fn, N: n, In: []program.BufferID{one, b}, Scalar: [2]bool{true, false}, Out: out(n)})
		add(program.Step{Kind: kind, Fn: fn, N: n, In: []program.BufferID{a, one}, Scalar: [2]bool{false, true}, Out: out(n)})
	}
	add(program.Step{Kind: program.StepRepeat, Outer: 3, Len: 4, Reps: 5, Inner: 2, In: []program.BufferID{random(3*4*2, -1, 1)}, Out: out(3 * 4 * 5 * 2)})
	add(program.Step{Kind: program.StepRepeat, Outer: 1, Len: 70, Reps: 3, Inner: 1, In: []program.BufferID{random(70, -1, 1)}, Out: out(210)})
	for _, fn := range []program.Fn{program.FnSum, program.FnMax} {
		add(program.Step{Kind: program.StepReduce, Fn: fn, Outer: 3, Len: 7, Inner: 4, In: []program.BufferID{random(3*7*4, -1, 1)}, Out: out(12)})
		add(program.Step{Kind: program.StepReduce, Fn: fn, Outer: 1, Len: 600, Inner: 1, In: []program.BufferID{random(600, -1, 1)}, Out: out(1)})
	}
	for _, dims := range [][3]int{{5, 3, 4}, {37, 11, 29}} {
		m, nn, k := dims[0], dims[1], dims[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				g := program.GEMM{TransA: ta, TransB: tb, M: m, N: nn, K: k, LDA: k, LDB: nn, LDC: nn}
				if ta {
					g.LDA = m
				}
				if tb {
					g.LDB = k
				}
				add(program.Step{Kind: program.StepGEMM, GEMM: g, In: []program.BufferID{random(m*k, -1, 1), random(k*nn, -1, 1)}, Out: out(m * nn)})
			}
		}
	}
	// The fused ops' steps: a bias over rows of 7, and the softmax
	// cross-entropy and its derivative over 300 rows (more than one block
	// of threads) of 5 classes with logits up to ±1e4, soft labels and
	// padding rows.
	add(program.Step{Kind: program.StepBiasAdd, N: 42 * 7, Len: 7, In: []program.BufferID{random(42*7, -3, 3), random(7, -1, 1)}, Out: out(42 * 7)})
	const rows, classes5 = 300, 5
	logits := make([]float32, rows*classes5)
	labels5 := make([]float32, rows*classes5)
	for r := range rows {
		for j := range classes5 {
			logits[r*classes5+j] = float32(rng.NormFloat64() * 3)
		}
		if r%9 == 0 {
			logits[r*classes5+r%classes5] = 1e4
			logits[r*classes5+(r+1)%classes5] = -1e4
		}
		switch r % 4 {
		case 0: // padding
		case 1: // soft labels
			labels5[r*classes5] = 0.25
			labels5[r*classes5+3] = 0.75
		default:
			labels5[r*classes5+rng.IntN(classes5)] = 1
		}
	}
	lg, lb := buf(logits), buf(labels5)
	add(program.Step{Kind: program.StepSoftmaxXent, Outer: rows, Len: classes5, In: []program.BufferID{lg, lb}, Out: out(1)})
	add(program.Step{Kind: program.StepSoftmaxXentGrad, Outer: rows, Len: classes5, In: []program.BufferID{lg, lb, random(1, 0.5, 2)}, Out: out(rows * classes5)})
	// Enough rows of 2 classes that the derivative's grid is capped and
	// its blocks stride over the rows.
	bigRows := xentThreads*xentGradBlocks + 37
	bigLogits, bigLabels := make([]float32, 2*bigRows), make([]float32, 2*bigRows)
	for r := range bigRows {
		bigLogits[2*r], bigLogits[2*r+1] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		bigLabels[2*r+r%2] = 1
	}
	blg, blb := buf(bigLogits), buf(bigLabels)
	add(program.Step{Kind: program.StepSoftmaxXent, Outer: bigRows, Len: 2, In: []program.BufferID{blg, blb}, Out: out(1)})
	add(program.Step{Kind: program.StepSoftmaxXentGrad, Outer: bigRows, Len: 2, In: []program.BufferID{blg, blb, random(1, 0.5, 2)}, Out: out(2 * bigRows)})
	param := random(n, -1, 1)
	add(program.Step{Kind: program.StepSGD, N: n, Out: param, In: []program.BufferID{b, random(1, 0.01, 1)}})
	// Gathers of 5 rows, two of them padding, from 4 images.
	const width, classes = 9, 3
	pix := make([]byte, 4*width)
	for i := range pix {
		pix[i] = byte(rng.IntN(256))
	}
	pixels, labels, index := buf(pix), buf([]byte{2, 0, 1, 2}), buf([]int32{3, 0, -1, 3, -1})
	add(program.Step{Kind: program.StepGather, Outer: 5, Len: width, In: []program.BufferID{pixels, index}, Out: out(5 * width)})
	add(program.Step{Kind: program.StepGather, OneHot: true, Outer: 5, Len: classes, In: []program.BufferID{labels, index}, Out: out(5 * classes)})

	plan, err := planLaunches(p)
	if err != nil {
		t.Fatal(err)
	}
	got := runKernelHost(t, harness, init, plan)

	// The CPU semantics, step by step, on copies of the initial buffers.
	want := make([]any, len(init))
	for i, d := range init {
		if f, ok := d.([]float32); ok {
			want[i] = slices.Clone(f)
		} else {
			want[i] = d
		}
	}
	f32 := func(id program.BufferID) []float32 { return want[id].([]float32) }
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Kind == program.StepGather {
			idx := want[s.In[1]].([]int32)
			if s.OneHot {
				program.GatherLabels(f32(s.Out), want[s.In[0]].([]byte), idx, s.Len)
			} else {
				program.GatherPixels(f32(s.Out), want[s.In[0]].([]byte), idx, s.Len)
			}
			continue
		}
		in := make([][]float32, len(s.In))
		for j, id := range s.In {
			in[j] = f32(id)
		}
		if err := program.ExecFloat(s, f32(s.Out), in); err != nil {
			t.Fatal(err)
		}
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		what := fmt.Sprintf("step %d (%s)", i, p.Describe(s))
		g, w := got[s.Out].([]float32), f32(s.Out)
		if slices.ContainsFunc(w, func(v float32) bool { return v != v }) {
			t.Errorf("%s: the CPU semantics left NaN", what)
		}
		atol := 0.0
		if s.Kind == program.StepSoftmaxXentGrad {
			// p·labels − y cancels where p is near 1: an ulp of p
			// (libm's expf against Go's) times g/count is all that is
			// left of an element there.
			var count float64
			for _, v := range f32(s.In[1]) {
				count += float64(v)
			}
			atol = 2 * math.Abs(float64(f32(s.In[2])[0])) / count * 0x1p-23
		}
		devicetest.CompareSlices(t, what, g, w, atol, 1e-6)
	}
}

func (l launch) String() string {
	if l.kernel == "" {
		return fmt.Sprintf("step %d gemm %+v", l.step, l.gemm)
	}
	return fmt.Sprintf("step %d %s<<<%d, %d>>>%v", l.step, l.kernel, l.grid, l.block, l.args)
}

// TestKernelHostGuardPages checks that the harness's guard pages catch a
// kernel that indexes one element outside a buffer of 5 floats, far from
// a page's size: a test kernel (-DKERNELHOST_SELFTEST) that reads or
// writes where it is told works within the buffer, and outside it crashes
// the harness with a fault at the address it reached, one element past
// the end (the buffers against the page after them) or before the start
// (against the page before them).
func TestKernelHostGuardPages(t *testing.T) {
	harness := buildKernelHost(t, "-DKERNELHOST_SELFTEST")
	const n = 5
	tests := []struct {
		name, kernel, guard string
		i                   int
		crash               bool
	}{
		{"read of the last element", "selftest_read_f32", "end", n - 1, false},
		{"read one past the end", "selftest_read_f32", "end", n, true},
		{"write of the last element", "selftest_write_f32", "end", n - 1, false},
		{"write one past the end", "selftest_write_f32", "end", n, true},
		{"read of the first element", "selftest_read_f32", "start", 0, false},
		{"read one before the start", "selftest_read_f32", "start", -1, true},
		{"write one before the start", "selftest_write_f32", "start", -1, true},
	}
	bufLine := regexp.MustCompile(`kernelhost: buffer (\d+) at 0x([0-9a-f]+), (\d+) bytes`)
	// The harness's own report, or the address sanitizer's, which may
	// handle the fault first.
	faultLine := regexp.MustCompile(`(?:kernelhost: fault at|SEGV on unknown address) 0x([0-9a-f]+)`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, in := nanFloats(n), []float32{1, 2, 3, 4, 5}
			l := launch{kernel: tt.kernel, grid: 1, block: 1, args: []launchArg{intArg(tt.i), bufArg(0), bufArg(1)}}
			target := 1 // the buffer the kernel indexes
			if tt.kernel == "selftest_write_f32" {
				l.args, target = l.args[:2], 0
			}
			cmd := exec.Command(harness, tt.guard)
			cmd.Stdin = bytes.NewReader(kernelHostInput(t, []any{out, in}, []launch{l}))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if !tt.crash {
				if err != nil {
					t.Fatalf("kernelhost %s: %v\n%s", tt.guard, err, stderr.String())
				}
				got := make([]float32, 2*n)
				if err := binary.Read(&stdout, binary.LittleEndian, got); err != nil {
					t.Fatal(err)
				}
				want := slices.Concat(out, in)
				if tt.kernel == "selftest_read_f32" {
					want[0] = in[tt.i]
				} else {
					want[tt.i] = 1
				}
				if !slices.EqualFunc(got, want, func(a, b float32) bool { return a == b || a != a && b != b }) {
					t.Errorf("buffers %v, want %v", got, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("kernelhost %s: a kernel indexing element %d of %d ran without a fault\n%s", tt.guard, tt.i, n, stderr.String())
			}
			var addr uint64
			for _, m := range bufLine.FindAllStringSubmatch(stderr.String(), -1) {
				if id, _ := strconv.Atoi(m[1]); id == target {
					addr, _ = strconv.ParseUint(m[2], 16, 64)
				}
			}
			m := faultLine.FindStringSubmatch(stderr.String())
			if addr == 0 || m == nil {
				t.Fatalf("kernelhost %s: %v, without saying where buffer %d lies and where it faulted:\n%s", tt.guard, err, target, stderr.String())
			}
			fault, _ := strconv.ParseUint(m[1], 16, 64)
			if want := addr + uint64(4*tt.i); fault != want {
				t.Errorf("faulted at %#x, want %#x (element %d of the buffer at %#x): not the guard page\n%s", fault, want, tt.i, addr, stderr.String())
			}
			t.Logf("%v: fault at %#x, buffer %d at %#x", err, fault, target, addr)
		})
	}
}
