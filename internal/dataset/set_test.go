package dataset

import (
	"slices"
	"testing"
)

func TestGather(t *testing.T) {
	set := &Set{
		Pix:    []byte{0, 255, 51, 102, 1, 2, 3, 4, 200, 100, 50, 25},
		Labels: []uint8{3, 0, 9},
		N:      3, Rows: 2, Cols: 2,
	}
	tests := []struct {
		name  string
		idx   []int
		wantX []float32
		wantY []int // label of each row
	}{
		{"one", []int{0}, []float32{0, 1, 0.2, 0.4}, []int{3}},
		{"reordered with repeat", []int{2, 0, 2}, []float32{
			200.0 / 255, 100.0 / 255, 50.0 / 255, 25.0 / 255,
			0, 1, 0.2, 0.4,
			200.0 / 255, 100.0 / 255, 50.0 / 255, 25.0 / 255,
		}, []int{9, 3, 9}},
		{"empty", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := make([]float32, len(tt.idx)*set.Dim()+1)
			y := make([]float32, len(tt.idx)*NumClasses+1)
			// Stale values from a previous batch must be overwritten,
			// and the floats past the batch left alone.
			for i := range y {
				y[i] = 7
			}
			x[len(x)-1] = -1
			set.Gather(tt.idx, x, y)
			if !slices.Equal(x[:len(x)-1], tt.wantX) || x[len(x)-1] != -1 {
				t.Errorf("x = %v, want %v", x, tt.wantX)
			}
			for k, label := range tt.wantY {
				row := y[k*NumClasses : (k+1)*NumClasses]
				for c, v := range row {
					want := float32(0)
					if c == label {
						want = 1
					}
					if v != want {
						t.Errorf("y row %d = %v, want one-hot %d", k, row, label)
						break
					}
				}
			}
			if y[len(y)-1] != 7 {
				t.Error("Gather wrote past the batch in y")
			}
			// x alone, without labels.
			set.Gather(tt.idx, x, nil)
		})
	}
}

func TestGatherScaleExact(t *testing.T) {
	pix := make([]byte, 256)
	for i := range pix {
		pix[i] = byte(i)
	}
	set := &Set{Pix: pix, N: 1, Rows: 16, Cols: 16}
	x := make([]float32, 256)
	set.Gather([]int{0}, x, nil)
	for p, v := range x {
		if v != float32(p)/255 || v < 0 || v > 1 {
			t.Fatalf("pixel %d scaled to %v, want %v", p, v, float32(p)/255)
		}
	}
}

func TestGatherDoesNotAllocate(t *testing.T) {
	s := newSynth(100, 28, 28, 3)
	set := &Set{Pix: s.pix, Labels: s.labels, N: s.n, Rows: s.rows, Cols: s.cols}
	idx := NewShuffler(s.n, 1).Epoch(0)[:32]
	x := make([]float32, len(idx)*set.Dim())
	y := make([]float32, len(idx)*NumClasses)
	if n := testing.AllocsPerRun(10, func() { set.Gather(idx, x, y) }); n != 0 {
		t.Errorf("Gather made %v allocations, want 0", n)
	}
}

func TestGatherPanicsOnShortBuffers(t *testing.T) {
	set := &Set{Pix: make([]byte, 8), Labels: []uint8{1, 2}, N: 2, Rows: 2, Cols: 2}
	tests := []struct {
		name string
		x, y []float32
		set  *Set
	}{
		{"short x", make([]float32, 7), nil, set},
		{"short y", make([]float32, 8), make([]float32, 19), set},
		{"no labels", make([]float32, 8), make([]float32, 20), &Set{Pix: set.Pix, N: 2, Rows: 2, Cols: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.set.Gather([]int{0, 1}, tt.x, tt.y)
		})
	}
}

func TestShuffler(t *testing.T) {
	const n = 1000
	a, b := NewShuffler(n, 42), NewShuffler(n, 42)
	e0 := slices.Clone(a.Epoch(0))
	e1 := slices.Clone(a.Epoch(1))

	tests := []struct {
		name string
		got  []int
		same []int // nil: must be a permutation unlike diff
		diff []int
	}{
		{"same seed and epoch", slices.Clone(b.Epoch(0)), e0, nil},
		{"epoch order does not matter", b.Epoch(1), e1, nil},
		{"epochs differ", e1, nil, e0},
		{"seeds differ", NewShuffler(n, 43).Epoch(0), nil, e0},
		{"negative seed", NewShuffler(n, -42).Epoch(0), nil, e0},
		{"shuffled", e0, nil, Sequential(n)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sorted := slices.Sorted(slices.Values(tt.got))
			if !slices.Equal(sorted, Sequential(n)) {
				t.Fatal("not a permutation of 0..n-1")
			}
			if tt.same != nil && !slices.Equal(tt.got, tt.same) {
				t.Error("orders differ, want the same")
			}
			if tt.diff != nil && slices.Equal(tt.got, tt.diff) {
				t.Error("orders are the same, want them to differ")
			}
		})
	}

	// The buffer is reused, so a training loop allocates nothing new per
	// epoch for the order itself.
	p1, p2 := a.Epoch(5), a.Epoch(6)
	if &p1[0] != &p2[0] {
		t.Error("Epoch did not reuse its buffer")
	}
	for _, k := range []int{0, 1, 2} {
		if got := NewShuffler(k, 9).Epoch(3); !slices.Equal(slices.Sorted(slices.Values(got)), Sequential(k)) {
			t.Errorf("n=%d: got %v", k, got)
		}
	}
}

// TestShufflerStable pins the first indices of one order, so that a change
// of algorithm, which would change every seeded run, is noticed.
func TestShufflerStable(t *testing.T) {
	got := slices.Clone(NewShuffler(10, 1).Epoch(0))
	want := []int{1, 6, 3, 5, 2, 0, 4, 8, 9, 7}
	if !slices.Equal(got, want) {
		t.Errorf("Epoch(0) of seed 1 = %#v, want %#v", got, want)
	}
}

func TestShufflerUniform(t *testing.T) {
	// Each index should land in each position about equally often.
	const n, epochs = 5, 20000
	var count [n][n]int
	s := NewShuffler(n, 7)
	for e := range epochs {
		for pos, i := range s.Epoch(e) {
			count[pos][i]++
		}
	}
	for pos := range count {
		for i, c := range count[pos] {
			if c < epochs/n*9/10 || c > epochs/n*11/10 {
				t.Errorf("index %d at position %d %d times, want about %d", i, pos, c, epochs/n)
			}
		}
	}
}

func TestBatch(t *testing.T) {
	idx := Sequential(10)
	tests := []struct {
		size, b int
		want    []int
	}{
		{4, 0, []int{0, 1, 2, 3}},
		{4, 2, []int{8, 9}},
		{10, 0, idx},
		{20, 0, idx},
	}
	for _, tt := range tests {
		if got := Batch(idx, tt.size, tt.b); !slices.Equal(got, tt.want) {
			t.Errorf("Batch(size %d, %d) = %v, want %v", tt.size, tt.b, got, tt.want)
		}
	}
	for _, c := range []struct{ n, size, want int }{{10, 4, 3}, {8, 4, 2}, {0, 4, 0}, {60000, 256, 235}} {
		if got := NumBatches(c.n, c.size); got != c.want {
			t.Errorf("NumBatches(%d, %d) = %d, want %d", c.n, c.size, got, c.want)
		}
	}
}

// scaleKernels lists the scaleRow kernels this machine can run, so that
// the tests cover each.
func scaleKernels() []scaleKernel {
	ks := []scaleKernel{scaleGo}
	if haveAVX2 {
		ks = append(ks, scaleAVX2)
	}
	if haveAVX512 {
		ks = append(ks, scaleAVX512)
	}
	return ks
}

// scaleRow (assembly on amd64) must give exactly the table's values for
// every byte, at every length and alignment, with every kernel.
func TestScaleRowExact(t *testing.T) {
	for _, k := range scaleKernels() {
		t.Run(k.String(), func(t *testing.T) { testScaleRowExact(t, k) })
	}
}

func testScaleRowExact(t *testing.T, k scaleKernel) {
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(i*37 + 11)
	}
	for off := 0; off < 4; off++ {
		for n := 0; n <= 200; n++ {
			in := src[off : off+n]
			dst := make([]float32, n+1)
			dst[n] = -1
			scaleRow(k, dst, in, src[off:])
			for i, p := range in {
				if dst[i] != float32(p)/255 {
					t.Fatalf("off %d, n %d: dst[%d] = %v for byte %d, want %v", off, n, i, dst[i], p, float32(p)/255)
				}
			}
			if dst[n] != -1 {
				t.Fatalf("n %d: wrote past the end", n)
			}
		}
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	dst := make([]float32, 256)
	scaleRow(k, dst, all, all)
	for i := range all {
		if dst[i] != float32(i)/255 {
			t.Fatalf("byte %d: %v, want %v", i, dst[i], float32(i)/255)
		}
	}
}

// scaleRow refuses a destination shorter than its source rather than
// letting a kernel write past it.
func TestScaleRowShortDestination(t *testing.T) {
	for _, k := range scaleKernels() {
		t.Run(k.String(), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			src := make([]byte, 64)
			scaleRow(k, make([]float32, 63), src, src)
		})
	}
}

// BenchmarkGather256 measures gathering one default batch from shuffled
// rows of a 60000-image set, with each scaling kernel.
func BenchmarkGather256(b *testing.B) {
	s := &Set{Pix: make([]byte, 60000*784), Labels: make([]uint8, 60000), N: 60000, Rows: 28, Cols: 28}
	for i := range s.Pix {
		s.Pix[i] = byte(i * 7)
	}
	idx := NewShuffler(s.N, 1).Epoch(1)
	x := make([]float32, 256*784)
	y := make([]float32, 256*NumClasses)
	for _, k := range scaleKernels() {
		b.Run(k.String(), func(b *testing.B) {
			b.SetBytes(256 * 784)
			for i := 0; i < b.N; i++ {
				lo := (i * 256) % (60000 - 256)
				s.gather(k, idx[lo:lo+256], x, y)
			}
		})
	}
}
