package dataset

import (
	"bytes"
	"runtime"
	"testing"
)

// readerOverhead bounds what ReadIDX allocates besides the data: the read
// buffer, the gzip decoder's state and the dims.
const readerOverhead = 512 << 10

// FuzzReadIDX checks that no input makes ReadIDX panic, return data that
// disagrees with its dims, exceed its limit, or allocate much more than the
// data it returns; that knowing the input's size changes nothing but when
// an error is found; and that a raw input and its gzip form read the same.
func FuzzReadIDX(f *testing.F) {
	s := newSynth(4, 3, 2, 1)
	files := s.files(f, false)
	gz := s.files(f, true)
	seeds := [][]byte{
		files[0], files[1], gz[0], gz[1],
		nil,
		{0, 0, 8, 0},
		{0, 0, 8, 1, 0, 0, 0, 0},
		idxBytes([]uint32{0xffffffff}, []byte{1, 2, 3}),
		idxBytes([]uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil),
		idxBytes([]uint32{60000, 28, 28}, make([]byte, 100)),
		gzipBytes(f, idxBytes([]uint32{1 << 24}, make([]byte, 100))),
		files[0][:len(files[0])-1],
		gz[0][:len(gz[0])-4],
		append(bytes.Clone(files[1]), 7),
	}
	for _, b := range seeds {
		f.Add(b, uint32(1<<16))
		f.Add(b, uint32(5))
	}
	f.Fuzz(func(t *testing.T, in []byte, lim uint32) {
		limit := int64(lim%(4<<20)) + 1 // 1 B .. 4 MiB
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		dims, data, err := ReadIDX(bytes.NewReader(in), limit)
		runtime.ReadMemStats(&after)

		// Knowing the size, as readFile does, changes when an error is
		// found (before reading) but never whether there is one or what
		// is read.
		sdims, sdata, serr := readIDX(bytes.NewReader(in), limit, firstChunk, int64(len(in)))
		if (serr == nil) != (err == nil) || !equalInts(sdims, dims) || !bytes.Equal(sdata, data) {
			t.Fatalf("with the size known: %v, %v; without: %v, %v", sdims, serr, dims, err)
		}

		// Growing doubles the buffer, so all data buffers together stay
		// under twice the limit.
		if got := int64(after.TotalAlloc - before.TotalAlloc); got > 2*limit+readerOverhead {
			t.Fatalf("allocated %d bytes with limit %d", got, limit)
		}
		if err != nil {
			if dims != nil || data != nil {
				t.Fatal("error with results")
			}
			if bytes.ContainsAny([]byte(err.Error()), "\r\n") {
				t.Fatalf("error not one line: %q", err)
			}
			return
		}
		n := int64(1)
		for _, d := range dims {
			n *= int64(d)
		}
		if n != int64(len(data)) || n > limit || len(dims) == 0 {
			t.Fatalf("dims %v but %d bytes of data, limit %d", dims, len(data), limit)
		}
		if len(in) >= 2 && in[0] == 0x1f && in[1] == 0x8b {
			return
		}
		// A raw file and its gzip form must read the same.
		dims2, data2, err := ReadIDX(bytes.NewReader(gzipBytes(t, in)), limit)
		if err != nil || !equalInts(dims, dims2) || !bytes.Equal(data, data2) {
			t.Fatalf("gzip form reads differently: %v", err)
		}
	})
}

// FuzzDecodeFolderCache checks that no cache file, however damaged, makes
// DecodeFolderCache panic, and that what it accepts encodes back the same.
func FuzzDecodeFolderCache(f *testing.F) {
	s := &Set{Pix: make([]byte, 8), Labels: []uint8{0, 1}, N: 2, Rows: 2, Cols: 2, Classes: 2}
	var b bytes.Buffer
	_ = EncodeFolderCache(&b, &Folder{Classes: []string{"a", "b"}, Train: s, Test: s})
	f.Add(b.Bytes())
	f.Add([]byte(folderCacheMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		fo, err := DecodeFolderCache(data)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := EncodeFolderCache(&out, fo); err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeFolderCache(out.Bytes()); err != nil {
			t.Fatalf("re-encoded cache does not decode: %v", err)
		}
	})
}
