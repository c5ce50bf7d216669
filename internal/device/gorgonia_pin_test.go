package device

import (
	"errors"
	"runtime/debug"
	"testing"
)

// pinnedGorgonia is the Gorgonia release whose unexported op types, field
// names and printed op symbols compile.go reads (opKind, field, unaryFns,
// binary's parsing of op.String()).
const pinnedGorgonia = "v0.9.18"

// The compiler reads Gorgonia's internals by name. When go.mod moves to
// another Gorgonia, this test fails first and says what to re-check,
// instead of the compiler failing later on a user's GPU run.
func TestGorgoniaVersionIsTheOneTheCompilerReads(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build information in this test binary")
	}
	for _, dep := range info.Deps {
		if dep.Path != "gorgonia.org/gorgonia" {
			continue
		}
		v := dep.Version
		if dep.Replace != nil {
			v = dep.Replace.Version + " (replaced)"
		}
		if v != pinnedGorgonia {
			t.Fatalf("gorgonia.org/gorgonia is %s, but internal/device/compile.go reads the unexported op types, fields and printed symbols of %s: "+
				"check opKind's type names, field()'s field names and unaryFns/binary's op symbols against the new version, then update pinnedGorgonia", v, pinnedGorgonia)
		}
		return
	}
	t.Fatal("gorgonia.org/gorgonia is not a dependency of this test binary")
}

// Every op the model's graphs are made of is one the compiler knows: a
// Gorgonia change that renames an op type or the fields it reads makes
// this fail with the op's name, not a wrong program.
func TestCompilerKnowsEveryModelOp(t *testing.T) {
	for _, train := range []bool{false, true} {
		_, gr := newGraph(t, 8, train, 1)
		_, err := Compile(gr.Nodes(), CompileOptions{})
		if errors.Is(err, ErrUnsupported) {
			t.Fatalf("train=%v: the model's graph uses an op the device compiler does not know (has Gorgonia changed?): %v", train, err)
		}
		if err != nil {
			t.Fatalf("train=%v: %v", train, err)
		}
	}
}
