package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nlpodyssey/safetensors"

	"github.com/softmaxctl/softmaxctl/internal/termtext"
)

const (
	formatName    = "softmaxctl"
	formatVersion = "1"

	tensorW = "W"
	tensorB = "b"

	// maxInputs bounds the product of input_shape before it is trusted:
	// a W with more float32 values could not fit in a maxFileSize file.
	maxInputs = maxFileSize / 4
)

// Keys of the safetensors __metadata__ map.
const (
	keyFormat        = "format"
	keyFormatVersion = "format_version"
	keyDataset       = "dataset"
	keyClasses       = "classes"
	keyInputShape    = "input_shape"
	keyScaling       = "scaling"
	keyEpochs        = "epochs"
	keyLR            = "lr"
	keyBatchSize     = "batch_size"
	keySigma         = "sigma"
	keySeed          = "seed"
	keyMetrics       = "metrics"
	keyVersion       = "version"
	keyPreprocess    = "preprocess"
	keyTestSplit     = "test_split"
	keyRecipe        = "recipe"
)

// Encode writes c to w in the safetensors format described in the package
// documentation. It validates c first and writes nothing if c is invalid, in
// particular if its weights hold NaN or infinite values, which Decode would
// refuse.
func Encode(w io.Writer, c *Checkpoint) error {
	if c == nil {
		return errors.New("invalid checkpoint: nil")
	}
	if err := validateMeta(&c.Meta); err != nil {
		return fmt.Errorf("invalid checkpoint metadata: %w", err)
	}
	in, out := product(c.Meta.InputShape), len(c.Meta.Classes)
	switch {
	case c.In != in || c.Out != out:
		return fmt.Errorf("invalid checkpoint: In×Out is %d×%d, but input_shape %v and %d classes need %d×%d",
			c.In, c.Out, c.Meta.InputShape, out, in, out)
	case len(c.W) != in*out:
		return fmt.Errorf("invalid checkpoint: W has %d values, want In×Out = %d", len(c.W), in*out)
	case len(c.B) != out:
		return fmt.Errorf("invalid checkpoint: b has %d values, want Out = %d", len(c.B), out)
	}
	if err := checkFinite(tensorW, c.W, out); err != nil {
		return err
	}
	if err := checkFinite(tensorB, c.B, out); err != nil {
		return err
	}

	header, err := encodeMeta(&c.Meta)
	if err != nil {
		return err
	}
	wv, err := safetensors.NewTensorView(safetensors.F32, []uint64{uint64(in), uint64(out)}, float32Bytes(c.W))
	if err != nil {
		return fmt.Errorf("encoding tensor W: %w", err)
	}
	bv, err := safetensors.NewTensorView(safetensors.F32, []uint64{uint64(out)}, float32Bytes(c.B))
	if err != nil {
		return fmt.Errorf("encoding tensor b: %w", err)
	}
	tensors := map[string]safetensors.TensorView{tensorW: wv, tensorB: bv}
	for name, vals := range c.Extra {
		shape, ok := extraShape(name, in, out)
		if !ok {
			return fmt.Errorf("invalid checkpoint: unknown tensor %q", name)
		}
		if len(vals) != product(shape) {
			return fmt.Errorf("invalid checkpoint: tensor %q has %d values, want %d", name, len(vals), product(shape))
		}
		if err := checkFinite(name, vals, 1); err != nil {
			return err
		}
		dims := make([]uint64, len(shape))
		for i, d := range shape {
			dims[i] = uint64(d)
		}
		v, err := safetensors.NewTensorView(safetensors.F32, dims, float32Bytes(vals))
		if err != nil {
			return fmt.Errorf("encoding tensor %s: %w", name, err)
		}
		tensors[name] = v
	}
	if err := safetensors.SerializeToWriter(tensors, header, w); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	return nil
}

// encodeMeta renders m as the string map stored in __metadata__.
func encodeMeta(m *Meta) (map[string]string, error) {
	classes, err := json.Marshal(m.Classes)
	if err != nil {
		return nil, fmt.Errorf("encoding classes: %w", err)
	}
	shape, err := json.Marshal(m.InputShape)
	if err != nil {
		return nil, fmt.Errorf("encoding input_shape: %w", err)
	}
	metrics := []byte("{}") // Marshal would write null for a nil map
	if len(m.Metrics) > 0 {
		if metrics, err = json.Marshal(m.Metrics); err != nil {
			return nil, fmt.Errorf("encoding metrics: %w", err)
		}
	}
	md := map[string]string{
		keyFormat:        formatName,
		keyFormatVersion: formatVersion,
		keyDataset:       m.Dataset,
		keyClasses:       string(classes),
		keyInputShape:    string(shape),
		keyScaling:       m.Scaling,
		keyEpochs:        strconv.Itoa(m.Epochs),
		// 'g' with precision -1 is the shortest text that parses back to
		// the same float64, so the values round-trip exactly.
		keyLR:        strconv.FormatFloat(m.LR, 'g', -1, 64),
		keyBatchSize: strconv.Itoa(m.BatchSize),
		keySigma:     strconv.FormatFloat(m.Sigma, 'g', -1, 64),
		keySeed:      strconv.FormatInt(m.Seed, 10),
		keyMetrics:   string(metrics),
		keyVersion:   m.Version,
	}
	if m.Preprocess != nil {
		b, err := json.Marshal(m.Preprocess)
		if err != nil {
			return nil, fmt.Errorf("encoding preprocess: %w", err)
		}
		md[keyPreprocess] = string(b)
	}
	if m.TestSplit != nil {
		b, err := json.Marshal(m.TestSplit)
		if err != nil {
			return nil, fmt.Errorf("encoding test_split: %w", err)
		}
		md[keyTestSplit] = string(b)
	}
	// Written only when set, so that the chapter's checkpoint keeps its
	// bytes.
	if m.Recipe != "" {
		if !json.Valid([]byte(m.Recipe)) {
			return nil, errors.New("encoding recipe: not valid JSON")
		}
		md[keyRecipe] = m.Recipe
	}
	return md, nil
}

// Decode parses and validates a checkpoint from the bytes of a safetensors
// file. The data may come from anywhere: Decode never panics, and every
// problem is reported as a one-line error saying what is wrong and what to
// do. The result does not alias data.
func Decode(data []byte) (c *Checkpoint, err error) {
	// Decode has been fuzzed without finding a panic; this is a last line of
	// defence so that a bug in the safetensors library or here cannot crash
	// the program on a bad file.
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, &formatError{fmt.Sprintf("is corrupt (parser panic: %s)", oneLine(fmt.Sprint(r))), fixRetrain}
		}
	}()
	return decode(data)
}

func decode(data []byte) (*Checkpoint, error) {
	headerLen, md, err := readHeader(data)
	if err != nil {
		return nil, err
	}
	body := data[8+headerLen:]

	infos := md.Tensors()
	for _, name := range []string{tensorW, tensorB} {
		if infos[name] == nil {
			return nil, &formatError{fmt.Sprintf("has no tensor %q (it has %s), so it is not a softmaxctl model", name, tensorNames(infos)), fixRetrain}
		}
	}
	for name := range infos {
		if _, ok := extraShape(name, 0, 0); !ok && name != tensorW && name != tensorB {
			return nil, &formatError{fmt.Sprintf("has tensors %s, but a softmaxctl model has only \"W\" and \"b\" (and optionally %q, %q, %q, %q, %q, %q)",
				tensorNames(infos), TensorMean, TensorStd, TensorMomentumW, TensorMomentumB, TensorIterateW, TensorIterateB), fixRetrain}
		}
	}
	for name := range infos {
		if dt := infos[name].DType; dt != safetensors.F32 {
			return nil, &formatError{fmt.Sprintf("has tensor %q of dtype %s, want F32", name, dt), fixFloat32}
		}
	}

	meta, err := decodeMeta(md.Metadata())
	if err != nil {
		return nil, err
	}
	in, out := product(meta.InputShape), len(meta.Classes)
	why := fmt.Sprintf("input_shape %v and %d classes", meta.InputShape, out)
	if s := infos[tensorW].Shape; len(s) != 2 || s[0] != uint64(in) || s[1] != uint64(out) {
		return nil, &formatError{fmt.Sprintf("has tensor \"W\" of shape %s, want [%d %d] (from %s)", shapeString(s), in, out, why), fixRetrain}
	}
	if s := infos[tensorB].Shape; len(s) != 1 || s[0] != uint64(out) {
		return nil, &formatError{fmt.Sprintf("has tensor \"b\" of shape %s, want [%d] (from %d classes)", shapeString(s), out, out), fixRetrain}
	}

	w, err := tensorData(body, tensorW, infos[tensorW], in*out)
	if err != nil {
		return nil, err
	}
	b, err := tensorData(body, tensorB, infos[tensorB], out)
	if err != nil {
		return nil, err
	}
	if err := checkFinite(tensorW, w, out); err != nil {
		return nil, err
	}
	if err := checkFinite(tensorB, b, out); err != nil {
		return nil, err
	}
	c := &Checkpoint{W: w, B: b, In: in, Out: out, Meta: *meta}
	for name, info := range infos {
		if name == tensorW || name == tensorB {
			continue
		}
		shape, _ := extraShape(name, in, out)
		if !slices.Equal(info.Shape, toU64(shape)) {
			return nil, &formatError{fmt.Sprintf("has tensor %q of shape %s, want %v", name, shapeString(info.Shape), shape), fixRetrain}
		}
		vals, err := tensorData(body, name, info, product(shape))
		if err != nil {
			return nil, err
		}
		if err := checkFinite(name, vals, 1); err != nil {
			return nil, err
		}
		if c.Extra == nil {
			c.Extra = map[string][]float32{}
		}
		c.Extra[name] = vals
	}
	return c, nil
}

// readHeader checks the 8-byte length prefix and the JSON header, and returns
// the header length and the parsed header. The checks before the library
// call only make the messages for common mistakes (an empty, truncated or
// foreign file) clearer; the library validates the rest, including that the
// tensors' data_offsets tile the data exactly.
func readHeader(data []byte) (uint64, safetensors.Metadata, error) {
	var none safetensors.Metadata
	if len(data) < 8 {
		return 0, none, &formatError{fmt.Sprintf("is not a safetensors file: it is only %d bytes long", len(data)), fixRetrain}
	}
	n := binary.LittleEndian.Uint64(data)
	rest := uint64(len(data) - 8)
	switch {
	case n > rest:
		return 0, none, &formatError{fmt.Sprintf("is not a safetensors file, or is truncated: its header length is %d bytes but only %d bytes follow", n, rest), fixRetrain}
	case n > maxHeaderSize:
		return 0, none, &formatError{fmt.Sprintf("has a %d-byte safetensors header, more than the %d bytes allowed for a softmaxctl model", n, maxHeaderSize), fixRetrain}
	case n < 2 || data[8] != '{':
		return 0, none, &formatError{"is not a safetensors file: its header is not a JSON object", fixRetrain}
	}
	_, md, err := safetensors.ReadMetadata(data)
	if err != nil {
		return 0, none, &formatError{"is corrupt or truncated (safetensors: " + oneLine(err.Error()) + ")", fixRetrain}
	}
	return n, md, nil
}

// tensorData copies a tensor's float32 values out of body. The bounds are
// checked again although the library already has, so that no header, however
// forged, can make a slice expression panic.
func tensorData(body []byte, name string, info *safetensors.TensorInfo, count int) ([]float32, error) {
	start, end := info.DataOffsets[0], info.DataOffsets[1]
	if start > end || end > uint64(len(body)) || end-start != 4*uint64(count) {
		return nil, &formatError{fmt.Sprintf("is corrupt or truncated (tensor %q has data_offsets [%d %d] for %d values in %d bytes of data)",
			name, start, end, count, len(body)), fixRetrain}
	}
	raw := body[start:end]
	vals := make([]float32, count)
	for i := range vals {
		vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return vals, nil
}

// decodeMeta parses the __metadata__ map into a Meta and validates it.
func decodeMeta(md map[string]string) (*Meta, error) {
	if md == nil {
		return nil, &formatError{"has no __metadata__, so it was not written by softmaxctl", fixRetrain}
	}
	missing := func(key string) error {
		return &formatError{fmt.Sprintf("has no %q in its __metadata__", key), fixRetrain}
	}
	invalid := func(key, want string) error {
		return &formatError{fmt.Sprintf("has invalid __metadata__ %q = %s, want %s", key, quote(md[key]), want), fixRetrain}
	}

	switch f, ok := md[keyFormat]; {
	case !ok:
		return nil, &formatError{fmt.Sprintf("has no %q in its __metadata__, so it was not written by softmaxctl", keyFormat), fixRetrain}
	case f != formatName:
		return nil, &formatError{fmt.Sprintf("has __metadata__ %q = %s, want %q", keyFormat, quote(f), formatName), fixRetrain}
	}
	// A missing version means version 1, for files written by hand.
	if v, ok := md[keyFormatVersion]; ok && v != formatVersion {
		return nil, &formatError{fmt.Sprintf("has format version %s, but this softmaxctl reads only version %s", quote(v), formatVersion), fixUpgrade}
	}

	var m Meta
	for _, key := range []string{keyDataset, keyClasses, keyInputShape, keyScaling} {
		if _, ok := md[key]; !ok {
			return nil, missing(key)
		}
	}
	m.Dataset = md[keyDataset]
	m.Scaling = md[keyScaling]
	if err := json.Unmarshal([]byte(md[keyClasses]), &m.Classes); err != nil {
		return nil, invalid(keyClasses, `a JSON array of class names such as ["cat","dog"]`)
	}
	if err := json.Unmarshal([]byte(md[keyInputShape]), &m.InputShape); err != nil {
		return nil, invalid(keyInputShape, "a JSON array of dimensions such as [28,28]")
	}

	// The training record is optional: a missing key leaves the zero value.
	ints := []struct {
		key string
		dst *int
	}{{keyEpochs, &m.Epochs}, {keyBatchSize, &m.BatchSize}}
	for _, f := range ints {
		if s, ok := md[f.key]; ok {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 {
				return nil, invalid(f.key, "a non-negative integer")
			}
			*f.dst = v
		}
	}
	floats := []struct {
		key string
		dst *float64
	}{{keyLR, &m.LR}, {keySigma, &m.Sigma}}
	for _, f := range floats {
		if s, ok := md[f.key]; ok {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, invalid(f.key, "a finite number")
			}
			*f.dst = v
		}
	}
	if s, ok := md[keySeed]; ok {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, invalid(keySeed, "a 64-bit integer")
		}
		m.Seed = v
	}
	if s, ok := md[keyMetrics]; ok {
		// JSON has no NaN or Inf, so the values are finite if this succeeds.
		if err := json.Unmarshal([]byte(s), &m.Metrics); err != nil {
			return nil, invalid(keyMetrics, `a JSON object of numbers such as {"val_acc":0.84}`)
		}
		if len(m.Metrics) == 0 {
			m.Metrics = nil // as Encode writes a nil map, so that Decode∘Encode is the identity
		}
	}
	m.Version = md[keyVersion]
	if s, ok := md[keyPreprocess]; ok {
		m.Preprocess = new(Preprocess)
		if err := json.Unmarshal([]byte(s), m.Preprocess); err != nil {
			return nil, invalid(keyPreprocess, `a JSON object such as {"kind":"resize","size":32,"color":true}`)
		}
	}
	if s, ok := md[keyTestSplit]; ok {
		m.TestSplit = new(TestSplit)
		if err := json.Unmarshal([]byte(s), m.TestSplit); err != nil {
			return nil, invalid(keyTestSplit, `a JSON object such as {"fraction":0.2,"seed":0}`)
		}
	}
	if r, ok := md[keyRecipe]; ok {
		if !json.Valid([]byte(r)) {
			return nil, invalid(keyRecipe, "a JSON object")
		}
		m.Recipe = r
	}

	if err := validateMeta(&m); err != nil {
		return nil, &formatError{"has invalid __metadata__: " + err.Error(), fixRetrain}
	}
	return &m, nil
}

// validateMeta checks what Encode and Decode both require of a Meta. Its
// messages are clauses that the callers prefix with their context.
func validateMeta(m *Meta) error {
	switch {
	case m.Dataset == "":
		return fmt.Errorf("%q is empty", keyDataset)
	case m.Scaling == "":
		return fmt.Errorf("%q is empty", keyScaling)
	case len(m.Classes) < 2:
		return fmt.Errorf("%q has %d entries, want at least 2 class names", keyClasses, len(m.Classes))
	case len(m.InputShape) == 0:
		return fmt.Errorf("%q is empty, want dimensions such as [28,28]", keyInputShape)
	case m.Epochs < 0 || m.BatchSize < 0:
		return fmt.Errorf("%q %d and %q %d must not be negative", keyEpochs, m.Epochs, keyBatchSize, m.BatchSize)
	case !finite(m.LR) || !finite(m.Sigma):
		return fmt.Errorf("%q %v and %q %v must be finite", keyLR, m.LR, keySigma, m.Sigma)
	}
	for _, f := range []struct{ key, val string }{{keyDataset, m.Dataset}, {keyScaling, m.Scaling}, {keyVersion, m.Version}} {
		if err := checkText(f.key, f.val); err != nil {
			return err
		}
	}
	for i, name := range m.Classes {
		if err := checkText(fmt.Sprintf("%s[%d]", keyClasses, i), name); err != nil {
			return err
		}
		if name == "" {
			return fmt.Errorf("%q has an empty name at index %d", keyClasses, i)
		}
		if j := slices.Index(m.Classes[:i], name); j >= 0 {
			return fmt.Errorf("%q names class %s twice, at indices %d and %d", keyClasses, quote(name), j, i)
		}
	}
	n := 1
	for _, d := range m.InputShape {
		if d <= 0 {
			return fmt.Errorf("%q %v has a dimension that is not positive", keyInputShape, m.InputShape)
		}
		// Dividing avoids overflow; maxInputs is far beyond any real model.
		if n > maxInputs/d {
			return fmt.Errorf("%q %v has more than %d elements", keyInputShape, m.InputShape, maxInputs)
		}
		n *= d
	}
	if p := m.Preprocess; p != nil {
		if err := p.validate(m.InputShape); err != nil {
			return err
		}
	}
	if ts := m.TestSplit; ts != nil && !(ts.Fraction > 0 && ts.Fraction < 1) {
		return fmt.Errorf("%q fraction %v is not between 0 and 1", keyTestSplit, ts.Fraction)
	}
	for k, v := range m.Metrics {
		if err := checkText(keyMetrics+" name", k); err != nil {
			return err
		}
		if !finite(v) {
			// JSON cannot represent it, and a NaN loss means the weights
			// are unusable anyway.
			return fmt.Errorf("metric %s is %v, which cannot be stored; training diverged, retrain with a smaller learning rate", quote(k), v)
		}
	}
	return nil
}

// CheckClassName reports why name cannot be a class name in a checkpoint
// (Encode would refuse it), or nil: it must be valid UTF-8, not empty, and
// free of the characters termtext.Unsafe names. Commands that take class
// names from folder names check them before any work.
func CheckClassName(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	return checkText("name", name)
}

// checkText refuses text from the metadata that would be unsafe to print:
// invalid UTF-8, and the characters termtext.Unsafe names. Commands print class
// and dataset names to terminals, so a crafted model could otherwise set the
// terminal's title, clear the screen or forge lines.
func checkText(key, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %s is not valid UTF-8", key, quote(s))
	}
	if i := strings.IndexFunc(s, termtext.Unsafe); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("%s %s holds the control character %U, which could forge what a terminal shows", key, quote(s), r)
	}
	return nil
}

// checkFinite reports the first NaN or infinite value of a tensor whose rows
// have cols values, with its [row col] index (or [i] for a vector).
func checkFinite(name string, vals []float32, cols int) error {
	for i, v := range vals {
		if f := float64(v); !finite(f) {
			at := fmt.Sprintf("[%d]", i)
			if name == tensorW {
				at = fmt.Sprintf("[%d %d]", i/cols, i%cols)
			}
			return &formatError{fmt.Sprintf("has %v in tensor %q at %s", f, name, at), fixDiverged}
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// product returns the product of dims; validateMeta has bounded it.
func product(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

func float32Bytes(vals []float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// tensorNames lists the tensors of a header for a message, sorted and quoted.
func tensorNames(infos map[string]*safetensors.TensorInfo) string {
	if len(infos) == 0 {
		return "none"
	}
	names := make([]string, 0, len(infos))
	for name := range infos {
		names = append(names, quote(name))
	}
	slices.Sort(names)
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return fmt.Sprint(names)
}

func shapeString(s []uint64) string {
	if len(s) > 8 {
		return fmt.Sprintf("[%s ...] (%d dimensions)", strings.Trim(fmt.Sprint(s[:8]), "[]"), len(s))
	}
	return fmt.Sprint(s)
}

func toU64(dims []int) []uint64 {
	u := make([]uint64, len(dims))
	for i, d := range dims {
		u[i] = uint64(d)
	}
	return u
}
