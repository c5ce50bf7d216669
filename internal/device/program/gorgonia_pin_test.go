package program_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/program"

	"github.com/softmaxctl/softmaxctl/internal/device/devicetest"
)

// pinnedGorgonia is the Gorgonia release whose unexported op types, field
// names and printed op symbols compile.go reads (model.OpKind, field, unaryFns,
// binary's parsing of op.String()).
const pinnedGorgonia = "v0.9.18"

// The compiler reads Gorgonia's internals by name. When go.mod moves to
// another Gorgonia, this test fails first and says what to re-check,
// instead of the compiler failing later on a user's GPU run.
func TestGorgoniaVersionIsTheOneTheCompilerReads(t *testing.T) {
	// Test binaries carry no dependency list, so read go.mod itself.
	mod, err := os.ReadFile(filepath.Join("..", "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(mod), "\n")
	for _, line := range lines {
		if strings.Contains(line, "gorgonia.org/gorgonia ") && strings.Contains(line, "=>") {
			t.Fatalf("go.mod replaces gorgonia.org/gorgonia (%s): the device compiler reads %s's internals; check them against the replacement", strings.TrimSpace(line), pinnedGorgonia)
		}
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "gorgonia.org/gorgonia" {
			if f[1] != pinnedGorgonia {
				t.Fatalf("go.mod requires gorgonia.org/gorgonia %s, but internal/device/program/compile.go reads the unexported op types, fields and printed symbols of %s: "+
					"check model.OpKind's type names, field()'s field names and unaryFns/binary's op symbols against the new version, then update pinnedGorgonia", f[1], pinnedGorgonia)
			}
			return
		}
	}
	t.Fatal("go.mod does not require gorgonia.org/gorgonia")
}

// Every op the model's graphs are made of is one the compiler knows: a
// Gorgonia change that renames an op type or the fields it reads makes
// this fail with the op's name, not a wrong program.
func TestCompilerKnowsEveryModelOp(t *testing.T) {
	for _, train := range []bool{false, true} {
		_, gr := devicetest.NewGraph(t, 8, train, 1)
		_, err := program.Compile(gr.Nodes(), program.CompileOptions{})
		if errors.Is(err, program.ErrUnsupported) {
			t.Fatalf("train=%v: the model's graph uses an op the device compiler does not know (has Gorgonia changed?): %v", train, err)
		}
		if err != nil {
			t.Fatalf("train=%v: %v", train, err)
		}
	}
}
