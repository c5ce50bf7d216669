package dataset

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

func TestReadIDX(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	good := idxBytes([]uint32{2, 3, 2}, data)
	goodGz := gzipBytes(t, good)
	badCRC := bytes.Clone(goodGz)
	badCRC[len(badCRC)-8] ^= 0xff

	tests := []struct {
		name    string
		in      []byte
		limit   int64
		dims    []int
		wantErr string // substring; empty means success
	}{
		{name: "good raw", in: good, dims: []int{2, 3, 2}},
		{name: "good gzip", in: goodGz, dims: []int{2, 3, 2}},
		{name: "good at limit", in: good, limit: 12, dims: []int{2, 3, 2}},
		{name: "labels", in: idxBytes([]uint32{3}, []byte{0, 9, 5}), dims: []int{3}},
		{name: "empty dimension", in: idxBytes([]uint32{0, 28, 28}, nil), dims: []int{0, 28, 28}},
		{name: "empty input", in: nil, wantErr: "truncated file: the IDX header needs 4 bytes, got 0"},
		{name: "wrong magic", in: append([]byte{0x1f, 0x00}, good[2:]...), wantErr: "not an IDX file"},
		{name: "text file", in: []byte("hello world"), wantErr: "not an IDX file"},
		{name: "wrong type byte", in: append([]byte{0, 0, 0x0d}, good[3:]...), wantErr: "unsupported IDX element type 0x0d"},
		{name: "no dimensions", in: []byte{0, 0, 8, 0}, wantErr: "no dimensions"},
		{name: "truncated magic", in: good[:3], wantErr: "truncated file: the IDX header needs 4 bytes, got 3"},
		{name: "truncated dimensions", in: good[:9], wantErr: "truncated file: the IDX header needs 16 bytes, got 9"},
		{name: "truncated data", in: good[:len(good)-1], wantErr: "truncated file: dimensions [2 3 2] need 12 bytes of data, got 11"},
		{name: "truncated gzip data", in: gzipBytes(t, good[:len(good)-5]), wantErr: "truncated gzip stream: dimensions [2 3 2] need 12 bytes of data, got 7"},
		{name: "truncated gzip stream", in: goodGz[:len(goodGz)/2], wantErr: "truncated gzip stream"},
		{name: "gzip without trailer", in: goodGz[:len(goodGz)-8], wantErr: "truncated gzip stream: its end"},
		{name: "gzip bad checksum", in: badCRC, wantErr: "corrupt gzip data"},
		{name: "gzip header only", in: goodGz[:5], wantErr: "gzip header"},
		{name: "trailing bytes", in: append(bytes.Clone(good), 0), wantErr: "unexpected bytes after the 12 bytes"},
		{name: "over limit", in: good, limit: 11, wantErr: "more data than the 11-byte limit"},
		{name: "forged huge dims limited", in: idxBytes([]uint32{0xffffffff}, data), limit: 1 << 20, wantErr: "claims dimensions [4294967295]"},
		{name: "forged huge dims unlimited", in: idxBytes([]uint32{0xffffffff}, data), wantErr: "need 4294967295 bytes of data, got 12"},
		{name: "forged huge gzip", in: gzipBytes(t, idxBytes([]uint32{60000, 0xffff, 0xffff}, data)), wantErr: "got 12"},
		{name: "overflowing dims", in: idxBytes([]uint32{0xffffffff, 0xffffffff, 0xffffffff}, data), wantErr: "more data than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dims, got, err := ReadIDX(bytes.NewReader(tt.in), tt.limit)
			if tt.wantErr != "" {
				checkOneLine(t, err)
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(dims, tt.dims) {
				t.Errorf("dims = %v, want %v", dims, tt.dims)
			}
			n := 1
			for _, d := range tt.dims {
				n *= d
			}
			if len(got) != n {
				t.Fatalf("got %d bytes, want %d", len(got), n)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReadIDXContent checks the bytes come back unchanged, for data larger
// than the first buffer so that growing is exercised.
func TestReadIDXContent(t *testing.T) {
	s := newSynth(3000, 28, 28, 1) // 2.35 MB, more than firstChunk
	for _, gz := range []bool{false, true} {
		f := s.files(t, gz)
		dims, pix, err := ReadIDX(bytes.NewReader(f[0]), 0)
		if err != nil {
			t.Fatal(err)
		}
		if !equalInts(dims, []int{3000, 28, 28}) || !bytes.Equal(pix, s.pix) {
			t.Errorf("gzip=%v: content differs (dims %v)", gz, dims)
		}
		if cap(pix) != len(pix) {
			t.Errorf("gzip=%v: cap %d, want exactly %d", gz, cap(pix), len(pix))
		}
	}
}

// TestReadIDXForgedAllocates checks that headers claiming far more data than
// the stream holds fail without allocating what they claim.
// IDXHeader is the header ReadIDX accepts, byte for byte the one the
// published files have: followed by the data, it reads back as dims and data.
func TestIDXHeader(t *testing.T) {
	tests := []struct {
		dims []int
		data []byte
	}{
		{[]int{3}, []byte{7, 8, 9}},
		{[]int{2, 3, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{[]int{1, 256, 1}, make([]byte, 256)},
	}
	for _, tt := range tests {
		hdr := IDXHeader(tt.dims)
		u := make([]uint32, len(tt.dims))
		for i, d := range tt.dims {
			u[i] = uint32(d)
		}
		if want := idxBytes(u, nil); !bytes.Equal(hdr, want) {
			t.Errorf("IDXHeader(%v) = % x, want % x", tt.dims, hdr, want)
		}
		dims, data, err := ReadIDX(bytes.NewReader(append(hdr, tt.data...)), 0)
		if err != nil || !equalInts(dims, tt.dims) || !bytes.Equal(data, tt.data) {
			t.Errorf("IDXHeader(%v) and its data read back as %v, %v, %v", tt.dims, dims, data, err)
		}
	}
}

func TestReadIDXForgedAllocates(t *testing.T) {
	payload := make([]byte, 100)
	tests := []struct {
		name  string
		in    []byte
		limit int64
	}{
		{"4G labels, no limit", idxBytes([]uint32{0xffffffff}, payload), 0},
		{"4G labels, limited", idxBytes([]uint32{0xffffffff}, payload), 1 << 30},
		{"huge images, no limit", idxBytes([]uint32{0xffffffff, 28, 28}, payload), 0},
		{"huge images gzip", gzipBytes(t, idxBytes([]uint32{0xffffffff, 28, 28}, payload)), 0},
		{"1 GB claim within limit", idxBytes([]uint32{1 << 30}, payload), 1 << 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, _, err := ReadIDX(bytes.NewReader(tt.in), tt.limit)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("forged header accepted")
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
				t.Errorf("allocated %d bytes for a %d-byte input", got, len(tt.in))
			}
		})
	}
}

// TestReadImagesForgedAllocates checks the same through ReadImages, which
// allocates up front in proportion to the file's size.
func TestReadImagesForgedAllocates(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		in   []byte
	}{
		{"raw", idxBytes([]uint32{0xffffff, 28, 28}, make([]byte, 1000))},
		{"gzip", gzipBytes(t, idxBytes([]uint32{0xffffff, 28, 28}, make([]byte, 1000)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, tt.in, 0o644); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := ReadImages(path)
			runtime.ReadMemStats(&after)
			checkOneLine(t, err)
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", got, len(tt.in))
			}
		})
	}
}

// TestReadImagesSparse checks that a raw file whose header claims more (or
// less) data than the file holds fails at once, without allocating what the
// header claims or reading the file: the header of a 4 GB sparse file that
// claims 100 000 000 images of 28x28 used to allocate 32 GB. The files are
// sparse, made with Truncate, so they cost no disk space.
func TestReadImagesSparse(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		testenv.SkipByDesign(t, "sparse files are made with Truncate on Linux and macOS only")
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		dims []uint32
		size int64
		want string
	}{
		{"4 GB file claiming 78 GB", []uint32{100000000, 28, 28}, 4 << 30,
			"truncated file: dimensions [100000000 28 28] need 78400000000 bytes of data, the file holds 4294967280"},
		{"64 MB file claiming 784 MB", []uint32{1000000, 28, 28}, 64 << 20,
			"truncated file: dimensions [1000000 28 28] need 784000000 bytes of data, the file holds 67108848"},
		{"1 GB file claiming 784 KB", []uint32{1000, 28, 28}, 1 << 30,
			"unexpected bytes after the 784000 bytes of data that dimensions [1000 28 28] hold: the file holds 1073741808"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "images")
			if err := os.WriteFile(path, idxBytes(tt.dims, nil), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, tt.size); err != nil {
				testenv.Skip(t, fmt.Sprintf("no sparse file: %v", err))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			done := make(chan error, 1)
			go func() { _, err := ReadImages(path); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ReadImages still running after 5 s")
			}
			runtime.ReadMemStats(&after)
			checkOneLine(t, err)
			if want := "read " + path + ": " + tt.want; err.Error() != want {
				t.Errorf("error\n%s\nwant\n%s", err, want)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("allocated %d bytes", got)
			}
		})
	}
}

// TestReadImagesRawAllocatesExactly checks that a good raw file is read into
// one buffer of exactly its data's size, and a gzip file's up-front buffer
// is capped whatever the file's size.
func TestReadImagesRawAllocatesExactly(t *testing.T) {
	s := newSynth(3000, 28, 28, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "raw")
	if err := os.WriteFile(path, s.files(t, false)[0], 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	set, err := ReadImages(path)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	n := uint64(len(s.pix))
	if !bytes.Equal(set.Pix, s.pix) || cap(set.Pix) != len(set.Pix) {
		t.Errorf("pixels differ or cap %d != len %d", cap(set.Pix), len(set.Pix))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > n+n/4+256<<10 {
		t.Errorf("allocated %d bytes for %d bytes of data", got, n)
	}
}

// TestReadImagesSpecialFiles checks that a data file that is a FIFO or a
// link to /dev/zero is refused at once instead of blocking or reading for
// ever.
func TestReadImagesSpecialFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		testenv.SkipByDesign(t, "Windows has no FIFOs or /dev/zero")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{fifo, fifo + " is a named pipe (FIFO), not a regular file"},
		{zero, zero + " is a character device, not a regular file"},
	} {
		done := make(chan error, 1)
		go func() { _, err := ReadImages(tt.path); done <- err }()
		select {
		case err := <-done:
			checkOneLine(t, err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ReadImages(%s) still running after 5 s", tt.path)
		}
	}
}
