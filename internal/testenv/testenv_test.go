package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Fatal and Skip only record what they
// were told, so that what the helpers do can be seen without ending the
// test.
type recorder struct {
	testing.TB
	name        string // the name it answers; "" for the test's own
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Name() string {
	if r.name != "" {
		return r.name
	}
	return r.TB.Name()
}
func (r *recorder) Fatal(args ...any)                 { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skip(args ...any)                  { r.skip = fmt.Sprint(args...) }

func TestSkipAndSkipByDesign(t *testing.T) {
	tests := []struct {
		name      string
		require   string // EnvRequire's value
		skip      func(testing.TB, string)
		wantFatal bool
	}{
		{"Skip on a developer's machine", "", Skip, false},
		{"Skip in CI", "1", Skip, true},
		{"SkipByDesign on a developer's machine", "", SkipByDesign, false},
		{"SkipByDesign in CI", "1", SkipByDesign, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRequire, tt.require)
			r := &recorder{TB: t}
			tt.skip(r, "no widget")
			if got := r.fatal != ""; got != tt.wantFatal {
				t.Errorf("failed: %v (%q), want %v", got, r.fatal, tt.wantFatal)
			}
			if !strings.Contains(r.skip+r.fatal, "no widget") {
				t.Errorf("skip %q, fatal %q: the reason is lost", r.skip, r.fatal)
			}
		})
	}
}

func TestSkipShort(t *testing.T) {
	t.Setenv(EnvRequire, "1")
	r := &recorder{TB: t}
	SkipShort(r, "trains for a minute")
	if r.fatal != "" || (r.skip != "") != testing.Short() {
		t.Errorf("-short %v: skip %q, fatal %q", testing.Short(), r.skip, r.fatal)
	}
}
