package dataset

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"

	"github.com/klauspost/compress/gzip"

	"github.com/softmaxctl/softmaxctl/internal/imageprep"
	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

// The CIFAR-10 binary format: each record is one label byte followed by a
// 32×32 colour image as its red plane, green plane and blue plane, each
// row by row: the channel-major (CHW) layout of Set.
const (
	CIFARSide   = 32
	cifarPixels = 3 * CIFARSide * CIFARSide
	cifarRecord = 1 + cifarPixels
	// maxCIFARRecords bounds one batch file read by ReadCIFARBatch.
	maxCIFARRecords = 100_000
	// cifarOfficialRecords is what every batch file of the official
	// archive holds.
	cifarOfficialRecords = 10_000
	// MaxOwnCIFARBytes bounds the records of one split of CIFAR-format
	// data of the user's own (LoadOptions.OwnData): 1 GiB, about 349,000
	// records.
	MaxOwnCIFARBytes = 1 << 30
)

// Archive describes a data set published as one tar.gz of batch files in
// the CIFAR binary format, read in place without extracting it.
type Archive struct {
	File File // the archive as published
	// Train and Test are the archive members that make each split, in
	// order.
	Train, Test []string
}

// CIFARError is a batch file that is not in the CIFAR binary format.
type CIFARError struct {
	Record int    // the record at fault (0-based), or -1
	Reason string // what is wrong
}

func (e *CIFARError) Error() string {
	if e.Record < 0 {
		return e.Reason
	}
	return fmt.Sprintf("record %d: %s", e.Record, e.Reason)
}

// ReadCIFARBatch reads one batch file of the CIFAR-10 binary format: records
// of a label byte and 3072 pixel bytes (CHW), to the end of r. Every label
// must be below classes. It returns the pixels of all records, one after
// another, and their labels. Memory grows with the bytes actually read, so
// a short stream costs little whatever it claims; more than 100,000
// records is refused.
func ReadCIFARBatch(r io.Reader, classes int) (pix []byte, labels []uint8, err error) {
	return readCIFARBatch(r, classes, 0)
}

// readCIFARBatch is ReadCIFARBatch that allocates room for size bytes of
// records up front, for a caller that knows the size (already bounded).
func readCIFARBatch(r io.Reader, classes int, size int64) (pix []byte, labels []uint8, err error) {
	if n := size / cifarRecord; n > 0 {
		pix, labels = make([]byte, 0, n*cifarPixels), make([]uint8, 0, n)
	}
	br := bufio.NewReaderSize(r, readBufSize)
	rec := make([]byte, cifarRecord)
	for i := 0; ; i++ {
		n, err := io.ReadFull(br, rec)
		switch {
		case err == io.EOF:
			if i == 0 {
				return nil, nil, &CIFARError{Record: -1, Reason: "holds no records"}
			}
			return pix, labels, nil
		case err == io.ErrUnexpectedEOF:
			return nil, nil, &CIFARError{Record: i, Reason: fmt.Sprintf("ends after %d of its %d bytes", n, cifarRecord)}
		case err != nil:
			return nil, nil, err
		}
		if i >= maxCIFARRecords {
			return nil, nil, &CIFARError{Record: i, Reason: fmt.Sprintf("more than %d records", maxCIFARRecords)}
		}
		if int(rec[0]) >= classes {
			return nil, nil, &CIFARError{Record: i, Reason: fmt.Sprintf("label %d is not a class (want 0..%d)", rec[0], classes-1)}
		}
		labels = append(labels, rec[0])
		pix = append(pix, rec[1:]...)
	}
}

// errInflate is the cause of a read past an inflation limit.
var errInflate = fmt.Errorf("inflates to more than %d times its size (a damaged file or a gzip bomb)", maxRatio)

// inflateLimit reads at most left bytes from r; reading more fails with
// errInflate.
type inflateLimit struct {
	r    io.Reader
	left int64
}

func (l *inflateLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// At the limit: only the end of the stream may follow.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errInflate
		}
		return 0, err
	}
	p = p[:min(int64(len(p)), l.left)]
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// loadArchive reads split of spec (which has an Archive) from the archive
// in dir, straight from the tar.gz. The archive may inflate to at most
// maxRatio times its size; each batch file must hold the official 10,000
// records, or with o.OwnData any number up to MaxOwnCIFARBytes a split.
// Both are checked against the tar headers before a batch is read.
func loadArchive(dir string, spec Spec, split Split, o LoadOptions) (*Set, error) {
	a := spec.Archive
	members := a.Train
	if split == Test {
		members = a.Test
	} else if split != Train {
		return nil, fmt.Errorf("unknown split %q: use %q or %q", split, Train, Test)
	}
	p := filepath.Join(dir, a.File.Name)
	fail := func(err error) error {
		return fmt.Errorf("load %s %s: %s: %w (the file is damaged: replace it with a good copy)", spec.Name, split, p, err)
	}
	f, fi, err := safeopen.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &MissingError{Dir: dir, Files: []string{a.File.Name}, Dataset: spec.Name}
		}
		return nil, fmt.Errorf("load %s %s: %w", spec.Name, split, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, readBufSize))
	if err != nil {
		return nil, fail(err)
	}
	defer zr.Close()
	inflated := &inflateLimit{r: zr, left: fi.Size()*maxRatio + ratioSlack}
	classes := len(spec.Classes)
	if classes == 0 || classes > NumClasses {
		classes = NumClasses
	}
	want := map[string]int{}
	for i, m := range members {
		want[m] = i
	}
	pix := make([][]byte, len(members))
	labels := make([][]uint8, len(members))
	found := 0
	var total int64 // bytes of the split's records so far
	tr := tar.NewReader(inflated)
	for found < len(members) {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fail(err)
		}
		i, ok := want[path.Clean(h.Name)]
		if !ok || h.Typeflag != tar.TypeReg || pix[i] != nil {
			continue
		}
		const official = cifarOfficialRecords * cifarRecord
		switch {
		case !o.OwnData && h.Size != official:
			return nil, fmt.Errorf("load %s %s: %s: %s holds %d bytes, %w (%d bytes, %d records)",
				spec.Name, split, p, h.Name, h.Size, ErrUnofficialSize, official, cifarOfficialRecords)
		case h.Size > MaxOwnCIFARBytes-total:
			return nil, fmt.Errorf("load %s %s: %s: %s holds %d bytes: with the split's other batches, more than the %d bytes allowed",
				spec.Name, split, p, h.Name, h.Size, MaxOwnCIFARBytes)
		case h.Size > inflated.left:
			return nil, fail(errInflate)
		}
		total += h.Size
		pix[i], labels[i], err = readCIFARBatch(tr, classes, h.Size)
		if err != nil {
			return nil, fail(fmt.Errorf("%s: %w", h.Name, err))
		}
		found++
	}
	s := &Set{Rows: CIFARSide, Cols: CIFARSide, Channels: 3, Classes: classes}
	n := 0
	for i, m := range members {
		if pix[i] == nil {
			return nil, fail(fmt.Errorf("the archive has no %s", m))
		}
		n += len(labels[i])
	}
	s.Pix, s.Labels = make([]byte, 0, n*cifarPixels), make([]uint8, 0, n)
	for i := range members {
		s.Pix = append(s.Pix, pix[i]...)
		s.Labels = append(s.Labels, labels[i]...)
		pix[i], labels[i] = nil, nil
	}
	s.N = n
	return s, nil
}

// Grayscale returns s with each colour image turned into its luminance
// (ITU-R BT.601, as image folders read without --color); a grayscale s is
// returned as it is.
func Grayscale(s *Set) *Set {
	if s.Chans() != 3 {
		return s
	}
	plane := s.Rows * s.Cols
	g := *s
	g.Channels = 1
	g.Pix = make([]byte, s.N*plane)
	for i := range s.N {
		src := s.Pix[i*3*plane : (i+1)*3*plane]
		dst := g.Pix[i*plane : (i+1)*plane]
		for j := range dst {
			dst[j] = imageprep.Gray(src[j], src[plane+j], src[2*plane+j])
		}
	}
	return &g
}
