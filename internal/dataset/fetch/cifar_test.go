package fetch

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
)

// A CIFAR-10 record: a label byte and the pixels, in three planes.
const (
	cifarPixels = 3 * dataset.CIFARSide * dataset.CIFARSide
	cifarRecord = 1 + cifarPixels
)

// cifarRecords makes n records whose labels are (start+i)%10 and whose
// pixels are a function of the record and position.
func cifarRecords(n, start int) []byte {
	b := make([]byte, 0, n*cifarRecord)
	for i := range n {
		b = append(b, byte((start+i)%10))
		for j := range cifarPixels {
			b = append(b, byte((start+i)*7+j*13))
		}
	}
	return b
}

// cifarArchive builds a tar.gz in the real layout, with the members in a
// shuffled order and an extra file; members maps name to content (nil
// leaves it out).
func cifarArchive(t testing.TB, members map[string][]byte) []byte {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, name := range []string{"test_batch.bin", "batches.meta.txt", "data_batch_3.bin", "data_batch_1.bin", "data_batch_2.bin", "data_batch_5.bin", "data_batch_4.bin", "readme.html"} {
		full := "cifar-10-batches-bin/" + name
		b, ok := members[full]
		if !ok {
			b = []byte("extra")
		}
		if b == nil {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: full, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	return gzipLevel(t, tb.Bytes(), 6, "")
}

// realCIFARMembers are 3 records per training batch and 4 test records.
func realCIFARMembers() map[string][]byte {
	m := map[string][]byte{
		"cifar-10-batches-bin/test_batch.bin":   cifarRecords(4, 100),
		"cifar-10-batches-bin/batches.meta.txt": []byte("airplane\nautomobile\n"),
	}
	for i := 1; i <= 5; i++ {
		m["cifar-10-batches-bin/data_batch_"+string(rune('0'+i))+".bin"] = cifarRecords(3, 3*(i-1))
	}
	return m
}

func cifarSpec(t testing.TB, archive []byte) dataset.Spec {
	spec, err := dataset.Lookup("cifar10")
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(archive)
	spec.Archive.File.MD5 = hex.EncodeToString(sum[:])
	spec.Mirrors = nil
	return spec
}

// A data set published as one archive is checked by the archive's MD5,
// for either split: the official archive is official, another is not.
func TestCheckSplitArchive(t *testing.T) {
	good := cifarArchive(t, realCIFARMembers())
	changed := realCIFARMembers()
	changed["cifar-10-batches-bin/test_batch.bin"][1] ^= 1
	other := cifarArchive(t, changed)
	tests := []struct {
		name    string
		archive []byte
		split   dataset.Split
		want    Provenance
		differ  string
	}{
		{"train", good, dataset.Train, Official, ""},
		{"test", good, dataset.Test, Official, ""},
		{"another archive", other, dataset.Test, Modified, "cifar-10-binary.tar.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := cifarSpec(t, good)
			if err := os.WriteFile(filepath.Join(dir, spec.Archive.File.Name), tt.archive, 0o644); err != nil {
				t.Fatal(err)
			}
			// Batches of 3 records are not the official 10,000.
			s, err := dataset.LoadWith(dir, spec, tt.split, dataset.LoadOptions{OwnData: true})
			if err != nil {
				t.Fatal(err)
			}
			o := CheckSplit(dir, spec, tt.split, s)
			if o.Provenance != tt.want || strings.Join(o.Differ, ",") != tt.differ || o.By != "archive MD5" {
				t.Errorf("got %+v, want %v %q by archive MD5", o, tt.want, tt.differ)
			}
		})
	}
}

// The archive downloads through the same path as the IDX files, with the
// dataset's larger size bound, and then loads.
func TestDownloadCIFAR(t *testing.T) {
	archive := cifarArchive(t, realCIFARMembers())
	spec := cifarSpec(t, archive)
	if spec.MaxBytes <= DefaultMaxBytes {
		t.Errorf("cifar10's download bound %d is not above the default", spec.MaxBytes)
	}
	base, hits := good(t, map[string][]byte{spec.Archive.File.Name: archive})
	dir := t.TempDir()
	if err := Download(context.Background(), DownloadOptions{Spec: spec, Dir: dir, Mirrors: []string{base}}); err != nil {
		t.Fatal(err)
	}
	if dataset.Missing(dir, spec, dataset.Train) != nil || hits.Load() != 1 {
		t.Fatalf("missing %v after %d requests", dataset.Missing(dir, spec, dataset.Train), hits.Load())
	}
	if s, err := dataset.LoadWith(dir, spec, dataset.Test, dataset.LoadOptions{OwnData: true}); err != nil || s.N != 4 {
		t.Fatalf("load: %v", err)
	}
	// The wrong archive is refused by its MD5.
	bad := spec
	a := *spec.Archive
	a.File.MD5 = strings.Repeat("0", 32)
	bad.Archive = &a
	err := Download(context.Background(), DownloadOptions{Spec: bad, Dir: t.TempDir(), Mirrors: []string{base}, Retries: 1})
	if err == nil || !strings.Contains(err.Error(), "MD5 mismatch") {
		t.Fatalf("err = %v", err)
	}
}
