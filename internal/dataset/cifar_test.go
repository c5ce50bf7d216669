package dataset

import (
	"archive/tar"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/imageprep"
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

func cifarSpec(t testing.TB, archive []byte) Spec {
	spec, err := Lookup("cifar10")
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(archive)
	spec.Archive.File.MD5 = hex.EncodeToString(sum[:])
	spec.Mirrors = nil
	return spec
}

func TestReadCIFARBatch(t *testing.T) {
	good := cifarRecords(3, 0)
	badLabel := bytes.Clone(good)
	badLabel[cifarRecord] = 10
	tests := []struct {
		name    string
		in      []byte
		n       int
		wantErr string
	}{
		{"three records", good, 3, ""},
		{"empty", nil, 0, "holds no records"},
		{"partial record", good[:2*cifarRecord+100], 0, "record 2: ends after 100 of its 3073 bytes"},
		{"bad label", badLabel, 0, "record 1: label 10 is not a class (want 0..9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pix, labels, err := ReadCIFARBatch(bytes.NewReader(tt.in), 10)
			if tt.wantErr != "" {
				var ce *CIFARError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ce) {
					t.Fatalf("err = %v, want a *CIFARError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(labels) != tt.n || len(pix) != tt.n*cifarPixels {
				t.Fatalf("%d labels, %d pixels, %v", len(labels), len(pix), err)
			}
			for i := range tt.n {
				if labels[i] != tt.in[i*cifarRecord] || !bytes.Equal(pix[i*cifarPixels:(i+1)*cifarPixels], tt.in[i*cifarRecord+1:(i+1)*cifarRecord]) {
					t.Fatalf("record %d differs", i)
				}
			}
		})
	}
}

func TestLoadCIFAR(t *testing.T) {
	members := realCIFARMembers()
	noBatch4 := realCIFARMembers()
	noBatch4["cifar-10-batches-bin/data_batch_4.bin"] = nil
	shortTest := realCIFARMembers()
	shortTest["cifar-10-batches-bin/test_batch.bin"] = cifarRecords(1, 0)[:500]
	good := cifarArchive(t, members)
	tests := []struct {
		name    string
		archive []byte // nil: no file
		split   Split
		n       int
		first   int // label of the first record
		wantErr string
	}{
		{name: "train in batch order", archive: good, split: Train, n: 15, first: 0},
		{name: "test", archive: good, split: Test, n: 4, first: 100 % 10},
		{name: "missing batch", archive: cifarArchive(t, noBatch4), split: Train, wantErr: "the archive has no cifar-10-batches-bin/data_batch_4.bin"},
		{name: "damaged batch", archive: cifarArchive(t, shortTest), split: Test, wantErr: "test_batch.bin: record 0: ends after 500"},
		{name: "not gzip", archive: []byte("hello"), split: Test, wantErr: "the file is damaged"},
		{name: "truncated", archive: good[:len(good)/2], split: Test, wantErr: "the file is damaged"},
		{name: "absent", split: Train, wantErr: "cifar10 files missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := cifarSpec(t, good)
			if tt.archive != nil {
				os.WriteFile(filepath.Join(dir, spec.Archive.File.Name), tt.archive, 0o644)
			}
			// Batches of 3 records are not the official 10,000.
			s, err := LoadWith(dir, spec, tt.split, LoadOptions{OwnData: true})
			if tt.wantErr != "" {
				checkOneLine(t, err)
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.N != tt.n || s.Dim() != 3072 || s.Chans() != 3 || len(s.Pix) != tt.n*3072 || int(s.Labels[0]) != tt.first {
				t.Fatalf("N %d dim %d chans %d first label %d", s.N, s.Dim(), s.Chans(), s.Labels[0])
			}
			// Training records come in batch order, 1 to 5, whatever the
			// order in the archive.
			if tt.split == Train {
				want := bytes.Join([][]byte{cifarRecords(3, 0), cifarRecords(3, 3), cifarRecords(3, 6), cifarRecords(3, 9), cifarRecords(3, 12)}, nil)
				for i := range s.N {
					if !bytes.Equal(s.Pix[i*3072:(i+1)*3072], want[i*cifarRecord+1:(i+1)*cifarRecord]) || s.Labels[i] != want[i*cifarRecord] {
						t.Fatalf("record %d differs", i)
					}
				}
			}
		})
	}
}

func TestGrayscale(t *testing.T) {
	s := &Set{N: 1, Rows: 1, Cols: 2, Channels: 3, Pix: []byte{255, 10, 0, 20, 0, 30}, Labels: []uint8{1}}
	g := Grayscale(s)
	want := []byte{imageprep.Gray(255, 0, 0), imageprep.Gray(10, 20, 30)}
	if g.Chans() != 1 || g.Dim() != 2 || !bytes.Equal(g.Pix, want) || s.Chans() != 3 {
		t.Fatalf("got %v (channels %d), want %v", g.Pix, g.Channels, want)
	}
	if Grayscale(g) != g {
		t.Error("a grayscale set was converted again")
	}
}

func FuzzReadCIFARBatch(f *testing.F) {
	f.Add(cifarRecords(2, 0))
	f.Add([]byte{})
	f.Add(cifarRecords(1, 9)[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		pix, labels, err := ReadCIFARBatch(bytes.NewReader(b), 10)
		if err != nil {
			return
		}
		if len(pix) != len(labels)*cifarPixels || len(b) != len(labels)*cifarRecord {
			t.Fatalf("%d bytes gave %d labels and %d pixels", len(b), len(labels), len(pix))
		}
		for _, l := range labels {
			if l >= 10 {
				t.Fatalf("label %d", l)
			}
		}
	})
}

// TestCIFARBounded gives archives whose batch files are not the official
// 10,000 records: a small archive that inflates to 20,000 records (a gzip
// bomb) is refused before its records are read, as the official archive
// and as the user's own data (by the inflation limit), and so is a batch
// over the own data's byte limit.
func TestCIFARBounded(t *testing.T) {
	bomb := realCIFARMembers()
	bomb["cifar-10-batches-bin/test_batch.bin"] = make([]byte, 20_000*cifarRecord)
	bombArchive := cifarArchive(t, bomb)
	// A tar header that claims a 2 GiB test batch, and no data.
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/test_batch.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2 << 30})
	tw.Flush()
	huge := gzipLevel(t, tb.Bytes(), 6, "")
	tests := []struct {
		name    string
		archive []byte
		own     bool
		want    string
	}{
		{"20,000 records", bombArchive, false, "holds 61460000 bytes, not the size of the official file (30730000 bytes, 10000 records)"},
		{"20,000 records as own data", bombArchive, true, "inflates to more than 64 times its size"},
		{"4 records", cifarArchive(t, realCIFARMembers()), false, "holds 12292 bytes, not the size of the official file"},
		{"a 2 GiB batch as own data", huge, true, "more than the 1073741824 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := cifarSpec(t, tt.archive)
			if err := os.WriteFile(filepath.Join(dir, spec.Archive.File.Name), tt.archive, 0o644); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := LoadWith(dir, spec, Test, LoadOptions{OwnData: tt.own})
			runtime.ReadMemStats(&after)
			checkOneLine(t, err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if errors.Is(err, ErrUnofficialSize) == tt.own {
				t.Errorf("errors.Is(err, ErrUnofficialSize) = %v with own data %v", !tt.own, tt.own)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d MB to refuse a %d KB archive", alloc>>20, len(tt.archive)>>10)
			}
		})
	}
}
