package cli

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/onnxexport"
	"github.com/softmaxctl/softmaxctl/internal/onnxpb"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// onnxModelSpec describes a checkpoint for the export tests.
type onnxModelSpec struct {
	shape   []int
	classes []string
	dataset string
	prep    *checkpoint.Preprocess
	// norm adds a standardisation; its first std is the floor train
	// uses (1e-2), so that folding multiplies some weights by 100.
	norm bool
}

var onnxTestClasses = []string{"t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"}

// onnxCheckpoint saves a checkpoint of random parameters as spec says and
// returns its path.
func onnxCheckpoint(t *testing.T, spec onnxModelSpec, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	in, out := 1, len(spec.classes)
	for _, d := range spec.shape {
		in *= d
	}
	ck := &checkpoint.Checkpoint{
		W: make([]float32, in*out), B: make([]float32, out), In: in, Out: out,
		Meta: checkpoint.Meta{Dataset: spec.dataset, Classes: spec.classes, InputShape: spec.shape, Scaling: "pixel/255", Preprocess: spec.prep},
	}
	for i := range ck.W {
		ck.W[i] = float32(rng.NormFloat64() * 0.05)
	}
	for i := range ck.B {
		ck.B[i] = float32(rng.NormFloat64() * 0.5)
	}
	if spec.norm {
		mean, std := make([]float32, in), make([]float32, in)
		for i := range mean {
			mean[i] = float32(rng.Float64() * 0.6)
			std[i] = float32(0.01 + rng.Float64()*0.4)
		}
		std[0] = 0.01
		ck.Extra = map[string][]float32{checkpoint.TensorMean: mean, checkpoint.TensorStd: std}
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := checkpoint.Save(path, ck); err != nil {
		t.Fatal(err)
	}
	return path
}

// readONNX parses an exported file with the generated protobuf types.
func readONNX(t *testing.T, path string) *onnxpb.ModelProto {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, mp); err != nil {
		t.Fatalf("%s does not parse as an ONNX ModelProto: %v", path, err)
	}
	return mp
}

// onnxMetadata returns the value of key in a model's metadata_props.
func onnxMetadata(mp *onnxpb.ModelProto, key string) (string, bool) {
	for _, p := range mp.GetMetadataProps() {
		if p.GetKey() == key {
			return p.GetValue(), true
		}
	}
	return "", false
}

// onnxTensorFloats decodes a float32 initializer's raw_data.
func onnxTensorFloats(t *testing.T, tp *onnxpb.TensorProto) []float32 {
	t.Helper()
	if tp.GetDataType() != int32(onnxpb.TensorProto_FLOAT) || len(tp.GetRawData())%4 != 0 {
		t.Fatalf("initializer %s: type %d with %d raw bytes, want FLOAT in raw_data", tp.GetName(), tp.GetDataType(), len(tp.GetRawData()))
	}
	v := make([]float32, len(tp.GetRawData())/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(tp.GetRawData()[4*i:]))
	}
	return v
}

// onnxValueDims are a value's shape, a symbolic dimension as its name.
func onnxValueDims(vi *onnxpb.ValueInfoProto) []string {
	var out []string
	for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		if p, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimParam); ok {
			out = append(out, p.DimParam)
		} else {
			out = append(out, fmt.Sprint(d.GetDimValue()))
		}
	}
	return out
}

// checkONNXStructure checks the graph export-onnx promises for the model
// at modelPath: its inputs and outputs, the three nodes wired in order,
// the metadata, and W and b equal to the model's with the
// standardisation folded in (computed here on its own, in float64).
func checkONNXStructure(t *testing.T, mp *onnxpb.ModelProto, modelPath string) {
	t.Helper()
	ck, m, err := loadModel(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	if mp.GetIrVersion() != 7 || len(mp.GetOpsetImport()) != 1 || mp.GetOpsetImport()[0].GetDomain() != "" || mp.GetOpsetImport()[0].GetVersion() != 13 {
		t.Errorf("IR version %d, opsets %v; want 7 and the default domain at 13", mp.GetIrVersion(), mp.GetOpsetImport())
	}
	if mp.GetProducerName() != "softmaxctl" || mp.GetProducerVersion() != Version {
		t.Errorf("producer %q %q", mp.GetProducerName(), mp.GetProducerVersion())
	}
	g := mp.GetGraph()
	c, h, w := onnxexport.ImageShape(ck.Meta.InputShape)
	wantIn := []string{"N", fmt.Sprint(c), fmt.Sprint(h), fmt.Sprint(w)}
	if len(g.GetInput()) != 1 || g.GetInput()[0].GetName() != "input" || !slices.Equal(onnxValueDims(g.GetInput()[0]), wantIn) ||
		g.GetInput()[0].GetType().GetTensorType().GetElemType() != int32(onnxpb.TensorProto_FLOAT) {
		t.Errorf("graph inputs %v, want one float32 \"input\" %v", g.GetInput(), wantIn)
	}
	wantOut := []string{"N", fmt.Sprint(m.Out)}
	if len(g.GetOutput()) != 1 || g.GetOutput()[0].GetName() != "probabilities" || !slices.Equal(onnxValueDims(g.GetOutput()[0]), wantOut) {
		t.Errorf("graph outputs %v, want one \"probabilities\" %v", g.GetOutput(), wantOut)
	}
	type node struct {
		op      string
		in, out []string
		attrs   map[string]int64
	}
	var got []node
	for _, n := range g.GetNode() {
		a := map[string]int64{}
		for _, at := range n.GetAttribute() {
			if at.GetType() != onnxpb.AttributeProto_INT {
				t.Errorf("node %s: attribute %s of type %v", n.GetName(), at.GetName(), at.GetType())
			}
			a[at.GetName()] = at.GetI()
		}
		got = append(got, node{n.GetOpType(), n.GetInput(), n.GetOutput(), a})
	}
	want := []node{
		{"Flatten", []string{"input"}, []string{"x"}, map[string]int64{"axis": 1}},
		{"Gemm", []string{"x", "W", "b"}, []string{"logits"}, map[string]int64{}},
		{"Softmax", []string{"logits"}, []string{"probabilities"}, map[string]int64{"axis": 1}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("nodes\n%v\nwant\n%v", got, want)
	}

	inits := map[string]*onnxpb.TensorProto{}
	for _, tp := range g.GetInitializer() {
		inits[tp.GetName()] = tp
	}
	if len(inits) != 2 || inits["W"] == nil || inits["b"] == nil {
		t.Fatalf("initializers %v, want W and b", slices.Sorted(maps.Keys(inits)))
	}
	if d := inits["W"].GetDims(); !slices.Equal(d, []int64{int64(m.In), int64(m.Out)}) {
		t.Errorf("W dims %v, want [%d %d]", d, m.In, m.Out)
	}
	if d := inits["b"].GetDims(); !slices.Equal(d, []int64{int64(m.Out)}) {
		t.Errorf("b dims %v, want [%d]", d, m.Out)
	}
	gw, gb := onnxTensorFloats(t, inits["W"]), onnxTensorFloats(t, inits["b"])
	ww, wb := make([]float64, len(m.W)), make([]float64, m.Out)
	for j := range wb {
		wb[j] = float64(m.B[j])
	}
	for i := 0; i < m.In; i++ {
		mean, std := 0.0, 1.0
		if m.Norm != nil {
			mean, std = float64(m.Norm.Mean[i]), float64(m.Norm.Std[i])
		}
		for j := 0; j < m.Out; j++ {
			ww[i*m.Out+j] = float64(m.W[i*m.Out+j]) / std
			wb[j] -= mean * ww[i*m.Out+j]
		}
	}
	near := func(got float32, want float64) bool {
		return math.Abs(float64(got)-want) <= 1e-6*max(1, math.Abs(want))
	}
	for k := range ww {
		if len(gw) != len(ww) || !near(gw[k], ww[k]) {
			t.Fatalf("W[%d] = %v, want %v (of %d values, %d exported)", k, gw[min(k, len(gw)-1)], ww[k], len(ww), len(gw))
		}
	}
	for j := range wb {
		if len(gb) != len(wb) || !near(gb[j], wb[j]) {
			t.Fatalf("b[%d] = %v, want %v", j, gb[min(j, len(gb)-1)], wb[j])
		}
	}

	classes, _ := onnxMetadata(mp, "classes")
	var names []string
	if err := json.Unmarshal([]byte(classes), &names); err != nil || !slices.Equal(names, ck.Meta.Classes) {
		t.Errorf("metadata classes %q, want %q", classes, ck.Meta.Classes)
	}
	for key, want := range map[string]string{"dataset": ck.Meta.Dataset, "input_scaling": "pixel/255"} {
		if v, _ := onnxMetadata(mp, key); v != want {
			t.Errorf("metadata %s = %q, want %q", key, v, want)
		}
	}
	prep, _ := onnxMetadata(mp, "preprocess")
	var p checkpoint.Preprocess
	if err := json.Unmarshal([]byte(prep), &p); err != nil || p != ck.Meta.Prep() {
		t.Errorf("metadata preprocess %q, want %+v", prep, ck.Meta.Prep())
	}
}

// onnxPython returns a python3 that imports onnx and numpy: the first
// python3 on PATH, else Debian's (where apt-get install python3-onnx
// puts them, whatever python3 a version manager puts first). Without one
// the test skips, or fails in CI.
func onnxPython(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if out, err := exec.Command(path, "-c", "import onnx, numpy").CombinedOutput(); err != nil {
			tried = append(tried, fmt.Sprintf("%s: %s", path, strings.TrimSpace(onnxLastLine(string(out)))))
			continue
		}
		return path
	}
	testenv.Skip(t, fmt.Sprintf("no python3 with onnx and numpy (%s): apt-get install python3-onnx python3-numpy to check export-onnx's files with the onnx library", strings.Join(tried, "; ")))
	return ""
}

func onnxLastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// onnxCases is what testdata/onnx_check.py compares the graph with.
type onnxCases struct {
	Shape   []int       `json:"shape"`
	Classes []string    `json:"classes"`
	Dataset string      `json:"dataset"`
	Inputs  [][]float32 `json:"inputs"`
	Probs   [][]float64 `json:"probs"`
}

// runONNXCheck runs testdata/onnx_check.py on an exported file and the
// cases, returning its output and whether it passed.
func runONNXCheck(t *testing.T, py, onnxPath string, cases onnxCases) (string, bool) {
	t.Helper()
	data, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	casesPath := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(casesPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, filepath.Join("testdata", "onnx_check.py"), onnxPath, casesPath).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run onnx_check.py: %v", err)
		}
		return strings.TrimSpace(string(out)), false
	}
	return strings.TrimSpace(string(out)), true
}

// onnxPredictCases are inputs for a model at modelPath - all black, all
// white and random pixels/255 - with the probabilities predict's
// classifier gives them.
func onnxPredictCases(t *testing.T, modelPath string, n int, seed uint64) onnxCases {
	t.Helper()
	ck, m, err := loadModel(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	x := make([]float32, n*m.In)
	for i := range x {
		switch k := i / m.In; {
		case k == 0:
		case k == 1:
			x[i] = 1
		default:
			x[i] = float32(rng.IntN(256)) / 255
		}
	}
	return onnxCasesFor(t, ck, x, n)
}

// onnxCasesFor runs predict's classifier on the n inputs x of ck's model.
func onnxCasesFor(t *testing.T, ck *checkpoint.Checkpoint, x []float32, n int) onnxCases {
	t.Helper()
	m, err := modelOf(ck)
	if err != nil {
		t.Fatal(err)
	}
	probs, err := classify(m, x, n)
	if err != nil {
		t.Fatal(err)
	}
	c, h, w := onnxexport.ImageShape(ck.Meta.InputShape)
	cases := onnxCases{Shape: []int{c, h, w}, Classes: ck.Meta.Classes, Dataset: ck.Meta.Dataset}
	for k := 0; k < n; k++ {
		cases.Inputs = append(cases.Inputs, x[k*m.In:(k+1)*m.In])
		cases.Probs = append(cases.Probs, probs[k*m.Out:(k+1)*m.Out])
	}
	return cases
}

// TestExportONNX exports models of each kind, parses each file back with
// the protobuf types and checks its graph, then has the onnx library
// check it (full_check) and compares the graph, evaluated with NumPy,
// with predict's probabilities on black, white and random inputs.
func TestExportONNX(t *testing.T) {
	py := onnxPython(t)
	for _, tt := range []struct {
		name string
		spec onnxModelSpec
	}{
		{"fashion-mnist", onnxModelSpec{shape: []int{28, 28}, classes: onnxTestClasses, dataset: "fashion-mnist"}},
		{"fashion-mnist standardised", onnxModelSpec{shape: []int{28, 28}, classes: onnxTestClasses, dataset: "fashion-mnist", norm: true}},
		{"mnist box 20", onnxModelSpec{shape: []int{28, 28}, classes: strings.Fields("0 1 2 3 4 5 6 7 8 9"), dataset: "mnist"}},
		{"colour folder standardised", onnxModelSpec{
			shape: []int{3, 8, 8}, classes: []string{"cat", "dog, or \"wolf\"", "ünïcode"}, dataset: folderName, norm: true,
			prep: &checkpoint.Preprocess{Kind: checkpoint.PrepResize, Size: 8, Color: true, Fit: checkpoint.FitCentreCrop},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			model := onnxCheckpoint(t, tt.spec, 7)
			out := filepath.Join(t.TempDir(), "model.onnx")
			r := execute(t, "export-onnx", "--model", model, "-o", out)
			if r.code != 0 || r.err != "" {
				t.Fatalf("export-onnx: exit %d: %s", r.code, r.err)
			}
			if !strings.HasPrefix(r.stdout, "wrote "+out) || !strings.Contains(r.stdout, "Flatten → Gemm → Softmax (opset 13)") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
			checkONNXStructure(t, readONNX(t, out), model)
			msg, ok := runONNXCheck(t, py, out, onnxPredictCases(t, model, 6, 3))
			if !ok {
				t.Fatalf("the onnx library's check failed: %s", msg)
			}
			t.Log(msg)
		})
	}
}

// TestExportONNXMatchesPredict runs predict itself on the drawn photos of
// testdata/photos, keeping the 28×28 input it fed the model
// (--save-input), and compares the exported graph on those inputs with
// the probabilities predict printed.
func TestExportONNXMatchesPredict(t *testing.T) {
	py := onnxPython(t)
	model := onnxCheckpoint(t, onnxModelSpec{shape: []int{28, 28}, classes: onnxTestClasses, dataset: "fashion-mnist", norm: true}, 11)
	out := filepath.Join(t.TempDir(), "model.onnx")
	if r := execute(t, "export-onnx", "--model", model, "-o", out); r.code != 0 {
		t.Fatalf("export-onnx: exit %d: %s", r.code, r.err)
	}
	saved := t.TempDir()
	r := execute(t, "predict", "--model", model, "--json", "--top", "10", "--save-input", saved, filepath.Join("..", "..", "testdata", "photos"))
	if r.code != 0 {
		t.Fatalf("predict: exit %d: %s", r.code, r.err)
	}
	ck, _, err := loadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	cases := onnxCases{Shape: []int{1, 28, 28}, Classes: ck.Meta.Classes, Dataset: ck.Meta.Dataset}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var p struct {
			File  string `json:"file"`
			Input string `json:"input"`
			Top   []struct {
				Index int     `json:"index"`
				Prob  float64 `json:"prob"`
			} `json:"top"`
		}
		if err := json.Unmarshal([]byte(l), &p); err != nil || len(p.Top) != 10 || p.Input == "" {
			t.Fatalf("predict line %q (%v)", l, err)
		}
		pix := savedInput(t, p.Input)
		x := make([]float32, 784)
		for i := range x {
			x[i] = float32(pix[i]) / 255
		}
		probs := make([]float64, 10)
		for _, c := range p.Top {
			probs[c.Index] = c.Prob
		}
		cases.Inputs = append(cases.Inputs, x)
		cases.Probs = append(cases.Probs, probs)
	}
	if len(cases.Inputs) != 4 {
		t.Fatalf("predict classified %d photos, want the 4 of testdata/photos", len(cases.Inputs))
	}
	msg, ok := runONNXCheck(t, py, out, cases)
	if !ok {
		t.Fatalf("the onnx library's check failed: %s", msg)
	}
	t.Log(msg)
}

// TestExportONNXCheckFails shows that the onnx check catches what it is
// there for: each case spoils an exported file (or what it is compared
// with) and the check must fail, saying why.
func TestExportONNXCheckFails(t *testing.T) {
	py := onnxPython(t)
	model := onnxCheckpoint(t, onnxModelSpec{shape: []int{28, 28}, classes: onnxTestClasses, dataset: "fashion-mnist", norm: true}, 5)
	good := filepath.Join(t.TempDir(), "model.onnx")
	if r := execute(t, "export-onnx", "--model", model, "-o", good); r.code != 0 {
		t.Fatalf("export-onnx: exit %d: %s", r.code, r.err)
	}
	for _, tt := range []struct {
		name  string
		spoil func(mp *onnxpb.ModelProto, c *onnxCases)
		want  string
	}{
		{"bias off by 1e-3", func(mp *onnxpb.ModelProto, _ *onnxCases) {
			b := mp.GetGraph().GetInitializer()[1]
			v := math.Float32frombits(binary.LittleEndian.Uint32(b.RawData)) + 1e-3
			binary.LittleEndian.PutUint32(b.RawData, math.Float32bits(v))
		}, "differ from predict's"},
		{"standardisation not folded", func(mp *onnxpb.ModelProto, _ *onnxCases) {
			_, m, _ := loadModel(model)
			mp.GetGraph().GetInitializer()[0] = onnxexport.Floats("W", m.W, m.In, m.Out)
		}, "differ from predict's"},
		{"Softmax over the batch", func(mp *onnxpb.ModelProto, _ *onnxCases) {
			mp.GetGraph().GetNode()[2].GetAttribute()[0].I = proto.Int64(0)
		}, "differ from predict's"},
		{"dangling node input", func(mp *onnxpb.ModelProto, _ *onnxCases) {
			mp.GetGraph().GetNode()[1].Input[1] = "weights"
		}, "check_model"},
		{"W of the wrong shape", func(mp *onnxpb.ModelProto, _ *onnxCases) {
			mp.GetGraph().GetInitializer()[0].Dims = []int64{10, 784}
		}, "check_model"},
		{"IR version beyond the checker", func(mp *onnxpb.ModelProto, _ *onnxCases) {
			mp.IrVersion = proto.Int64(99)
		}, "check_model"},
		{"class names swapped", func(_ *onnxpb.ModelProto, c *onnxCases) {
			c.Classes[0], c.Classes[1] = c.Classes[1], c.Classes[0]
		}, "metadata classes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mp := readONNX(t, good)
			cases := onnxPredictCases(t, model, 4, 9)
			cases.Classes = slices.Clone(cases.Classes)
			tt.spoil(mp, &cases)
			data, err := proto.Marshal(mp)
			if err != nil {
				t.Fatal(err)
			}
			spoilt := filepath.Join(t.TempDir(), "spoilt.onnx")
			if err := os.WriteFile(spoilt, data, 0o644); err != nil {
				t.Fatal(err)
			}
			msg, ok := runONNXCheck(t, py, spoilt, cases)
			if ok || !strings.Contains(msg, tt.want) {
				t.Fatalf("check passed %t, said %q; want a failure mentioning %q", ok, msg, tt.want)
			}
			t.Log(msg)
		})
	}
}

// TestExportONNXErrors: each mistake is one line on stderr with the right
// status, and no file is left where --out points.
func TestExportONNXErrors(t *testing.T) {
	good := onnxCheckpoint(t, onnxModelSpec{shape: []int{28, 28}, classes: onnxTestClasses, dataset: "fashion-mnist"}, 1)

	// A standardisation whose std is far below the floor train keeps:
	// folding it would make logits overflow.
	tiny := func() string {
		ck := &checkpoint.Checkpoint{
			W: make([]float32, 4*2), B: make([]float32, 2), In: 4, Out: 2,
			Meta:  checkpoint.Meta{Dataset: folderName, Classes: []string{"a", "b"}, InputShape: []int{2, 2}, Scaling: "pixel/255"},
			Extra: map[string][]float32{checkpoint.TensorMean: {0, 0, 0, 0}, checkpoint.TensorStd: {1e-38, 1, 1, 1}},
		}
		ck.W[0] = 1
		p := filepath.Join(t.TempDir(), "tiny.safetensors")
		if err := checkpoint.Save(p, ck); err != nil {
			t.Fatal(err)
		}
		return p
	}()
	scaled := func() string {
		ck := &checkpoint.Checkpoint{
			W: make([]float32, 4*2), B: make([]float32, 2), In: 4, Out: 2,
			Meta: checkpoint.Meta{Dataset: folderName, Classes: []string{"a", "b"}, InputShape: []int{2, 2}, Scaling: "pixel/127.5-1"},
		}
		p := filepath.Join(t.TempDir(), "scaled.safetensors")
		if err := checkpoint.Save(p, ck); err != nil {
			t.Fatal(err)
		}
		return p
	}()

	for _, tt := range []struct {
		name string
		args func(out string) []string
		code int
		want string
	}{
		{"missing model", func(out string) []string {
			return []string{"--model", filepath.Join(t.TempDir(), "none.safetensors"), "-o", out}
		}, ExitRuntime, "not found"},
		{"not a model", func(out string) []string {
			p := filepath.Join(t.TempDir(), "junk.safetensors")
			if err := os.WriteFile(p, []byte("not safetensors"), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"--model", p, "-o", out}
		}, ExitRuntime, "junk.safetensors"},
		{"out is a folder", func(string) []string { return []string{"--model", good, "-o", t.TempDir()} }, ExitUsage, "--out"},
		{"out in a missing folder", func(string) []string {
			return []string{"--model", good, "-o", filepath.Join(t.TempDir(), "no", "m.onnx")}
		}, ExitUsage, "--out"},
		{"out is the model", func(string) []string { return []string{"--model", good, "-o", good} }, ExitUsage, "input file"},
		{"empty out", func(string) []string { return []string{"--model", good, "-o", ""} }, ExitUsage, "--out is empty"},
		{"an argument", func(out string) []string { return []string{"--model", good, "-o", out, "model.safetensors"} }, ExitUsage, "takes no arguments"},
		{"folded std overflows", func(out string) []string { return []string{"--model", tiny, "-o", out} }, ExitRuntime, "beyond float32's range"},
		{"other scaling", func(out string) []string { return []string{"--model", scaled, "-o", out} }, ExitRuntime, "pixel/127.5-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "model.onnx")
			r := execute(t, append([]string{"export-onnx"}, tt.args(out)...)...)
			if r.code != tt.code || !strings.Contains(r.err, tt.want) || strings.Count(r.err, "\n") != 1 || !strings.HasPrefix(r.err, "softmaxctl: ") {
				t.Errorf("exit %d, stderr %q; want %d and one line mentioning %q", r.code, r.err, tt.code, tt.want)
			}
			t.Log(strings.TrimSpace(r.err))
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
			}
		})
	}
}

// TestExportONNXRealData exports a model trained (one epoch, with
// --standardize) on the real Fashion-MNIST and compares the graph with
// predict's classifier on the first 200 test images.
func TestExportONNXRealData(t *testing.T) {
	testenv.SkipShort(t, "trains on Fashion-MNIST")
	data := testenv.Data(t)
	py := onnxPython(t)
	model := trainedModel(t, data, 1, "--standardize")
	out := filepath.Join(t.TempDir(), "model.onnx")
	if r := execute(t, "export-onnx", "--model", model, "-o", out); r.code != 0 {
		t.Fatalf("export-onnx: exit %d: %s", r.code, r.err)
	}
	checkONNXStructure(t, readONNX(t, out), model)
	spec, _ := dataset.Lookup("fashion-mnist")
	s, err := dataset.Load(data, spec, dataset.Test)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	x := make([]float32, n*784)
	for i := range x {
		x[i] = float32(s.Pix[i]) / 255
	}
	ck, _, err := loadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	msg, ok := runONNXCheck(t, py, out, onnxCasesFor(t, ck, x, n))
	if !ok {
		t.Fatalf("the onnx library's check failed: %s", msg)
	}
	t.Log(msg)
}
