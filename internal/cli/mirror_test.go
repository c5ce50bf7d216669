package cli

import (
	"strings"
	"testing"
)

// A --mirror that does not parse or has the wrong scheme is a usage error
// that names the URL without its credentials or query values.
func TestMirrorCredentialsNeverShown(t *testing.T) {
	tests := []struct{ mirror, want string }{
		{"http://alice:S3cret PW@example.org/data/", `--mirror "http://xxxxx@example.org/data/" is not a valid URL`},
		{"http://alice:S3cret%zz@example.org/data/", `--mirror "http://xxxxx@example.org/data/" is not a valid URL`},
		{"http://alice:S3cret@[::1/", `--mirror "http://xxxxx@[::1/" is not a valid URL`},
		{"http://alice:S3cret/x@example.org/", `--mirror "http://xxxxx@example.org/" is not a valid URL`},
		{"ftp://alice:S3cret@example.org/pub/", `--mirror "ftp://xxxxx@example.org/pub/" is not an http, https or file URL`},
		{"ftp://example.org/pub/?token=S3cret", `--mirror "ftp://example.org/pub/?token=xxxxx" is not an http, https or file URL`},
	}
	for _, tt := range tests {
		t.Run(tt.mirror, func(t *testing.T) {
			r := execute(t, "download", "--data", t.TempDir(), "--mirror", tt.mirror)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d", r.code, ExitUsage)
			}
			oneErrorLine(t, r.err)
			if strings.Contains(r.err, "S3cret") || strings.Contains(r.err, "alice") {
				t.Errorf("stderr %q shows the credentials", r.err)
			}
			if !strings.Contains(r.err, tt.want) {
				t.Errorf("stderr %q lacks %q", r.err, tt.want)
			}
		})
	}
}
