package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/devicetest"
	"github.com/softmaxctl/softmaxctl/internal/testenv"

	"github.com/softmaxctl/softmaxctl/internal/device/program"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/device"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// separable returns a set where class k brightens pixel block k.
func separable(n int, seed uint64) *dataset.Set {
	s := randomSet(n, seed)
	for i := 0; i < n; i++ {
		img := s.Pix[i*784 : (i+1)*784]
		for j := range img {
			img[j] /= 4
		}
		k := int(s.Labels[i])
		for j := k * 70; j < k*70+70; j++ {
			img[j] = 255
		}
	}
	return s
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		n    int
		want string
	}{
		{Config{Epochs: 1, LR: 0.1, BatchSize: 10}, 100, ""},
		{Config{Epochs: 0, LR: 0.1, BatchSize: 10}, 100, "Epochs"},
		{Config{Epochs: 1, LR: 0, BatchSize: 10}, 100, "LR"},
		{Config{Epochs: 1, LR: math.NaN(), BatchSize: 10}, 100, "LR"},
		{Config{Epochs: 1, LR: math.Inf(1), BatchSize: 10}, 100, "LR"},
		{Config{Epochs: 1, LR: 0.1, BatchSize: 0}, 100, "BatchSize"},
		{Config{Epochs: 1, LR: 0.1, BatchSize: 101}, 100, "BatchSize"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate(tt.n)
		var ce *ConfigError
		if (err == nil) != (tt.want == "") || (err != nil && (!errors.As(err, &ce) || ce.Field != tt.want)) {
			t.Errorf("Validate(%+v, %d) = %v, want a ConfigError for %q", tt.cfg, tt.n, err, tt.want)
		}
	}
}

func TestFitLearnsAndReports(t *testing.T) {
	tr, te := separable(700, 1), separable(200, 2)
	m, _ := model.New(784, 10, 0.01, 1)
	var epochs []Epoch
	var last []Progress // each epoch's last progress report
	batches := 0
	trn := &Trainer{
		Config: Config{Epochs: 3, LR: 0.1, BatchSize: 64, Seed: 1},
		OnBatch: func(p Progress) {
			batches++
			if p.Batch == p.Batches {
				last = append(last, p)
			}
		},
		OnEpoch: func(e Epoch) { epochs = append(epochs, e) },
	}
	hist, err := trn.Fit(context.Background(), m, tr, te)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || len(epochs) != 3 || batches != 3*11 {
		t.Fatalf("history %d, callbacks %d, batches %d; want 3, 3, 33", len(hist), len(epochs), batches)
	}
	for i, p := range last {
		if math.Abs(p.Loss-hist[i].TrainLoss) > 1e-12 || p.Acc != hist[i].TrainAcc || p.Epoch != i+1 || p.Epochs != 3 {
			t.Errorf("epoch %d: last progress %+v, epoch figures %+v", i+1, p, hist[i])
		}
	}
	if d := last[2].Done(); d != 1 {
		t.Errorf("progress at the end is %v, want 1", d)
	}
	if hist[2].TrainLoss >= hist[0].TrainLoss {
		t.Errorf("train loss did not fall: %v", hist)
	}
	if hist[2].ValAcc < 0.95 {
		t.Errorf("val acc %v on separable data", hist[2].ValAcc)
	}
	res, err := Evaluate(m, te)
	if err != nil {
		t.Fatal(err)
	}
	if res.Confusion.Accuracy() != hist[2].ValAcc || res.Loss != hist[2].ValLoss {
		t.Errorf("Evaluate gives %v/%v, last epoch %v/%v", res.Confusion.Accuracy(), res.Loss, hist[2].ValAcc, hist[2].ValLoss)
	}
}

func TestFitStopsAfterCurrentBatch(t *testing.T) {
	tr, te := separable(500, 3), separable(50, 4)
	m, _ := model.New(784, 10, 0.01, 1)
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	trn := &Trainer{
		Config: Config{Epochs: 5, LR: 0.1, BatchSize: 50, Seed: 1},
		OnBatch: func(Progress) {
			batches++
			if batches == 13 {
				cancel()
			}
		},
	}
	hist, err := trn.Fit(ctx, m, tr, te)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
	if batches != 13 || len(hist) != 1 {
		t.Errorf("ran %d batches and %d full epochs, want 13 and 1", batches, len(hist))
	}
}

// FitOn with the device program's pure-Go executor must train the same
// model as Fit on the tape machine.
func TestFitOnMatchesFit(t *testing.T) {
	tr, te := separable(600, 5), separable(150, 6)
	cfg := Config{Epochs: 2, LR: 0.1, BatchSize: 64, Seed: 3}
	m1, _ := model.New(784, 10, 0.01, 3)
	m2, _ := model.New(784, 10, 0.01, 3)
	h1, err := (&Trainer{Config: cfg}).Fit(context.Background(), m1, tr, te)
	if err != nil {
		t.Fatal(err)
	}
	cpu := func(p *program.Program) (program.Executor, error) { return devicetest.NewExecutor(p) }
	h2, err := (&Trainer{Config: cfg}).FitOn(context.Background(), m2, tr, te, cpu)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m1.W {
		if d := math.Abs(float64(m1.W[i] - m2.W[i])); d > 1e-5 {
			t.Fatalf("W[%d]: tape machine %v, device program %v", i, m1.W[i], m2.W[i])
		}
	}
	for i := range h1 {
		if math.Abs(h1[i].TrainLoss-h2[i].TrainLoss) > 1e-5 || math.Abs(h1[i].ValAcc-h2[i].ValAcc) > 0.01 {
			t.Errorf("epoch %d: tape machine %+v, device program %+v", i+1, h1[i], h2[i])
		}
	}
}

func TestFitOnWithoutCUDA(t *testing.T) {
	if device.CUDASupport {
		testenv.SkipByDesign(t, "the CUDA build has CUDA support")
	}
	tr, te := separable(100, 5), separable(50, 6)
	m, _ := model.New(784, 10, 0.01, 3)
	cuda := func(p *program.Program) (program.Executor, error) {
		return device.NewHost(os.Getenv).NewExecutor(device.CUDA, p)
	}
	_, err := (&Trainer{Config: Config{Epochs: 1, LR: 0.1, BatchSize: 10}}).FitOn(context.Background(), m, tr, te, cuda)
	if err == nil || !strings.Contains(err.Error(), "built without CUDA support") {
		t.Errorf("err = %v, want the no-CUDA error", err)
	}
}

// noisy returns a set where the block of pixels of an image's class is
// brighter, and so, as often, is the block of another class: a linear model
// learns it only in part, so the fused and unfused graphs have accuracy
// to disagree on.
func noisy(n int, seed uint64) *dataset.Set {
	s := randomSet(n, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < n; i++ {
		img := s.Pix[i*784 : (i+1)*784]
		for j := range img {
			img[j] /= 8
		}
		for _, k := range []int{int(s.Labels[i]), rng.IntN(10)} {
			for j := k * 70; j < k*70+70; j++ {
				img[j] += byte(rng.IntN(160))
			}
		}
	}
	return s
}

// TestFusedTrainsLikeUnfused trains the same recipe with the fused graph
// (the default) and with the graph of primitives (Trainer.Unfused): the
// two reach the same accuracy within 0.1 point, and the same loss to
// float32 rounding.
func TestFusedTrainsLikeUnfused(t *testing.T) {
	tr, te := noisy(3000, 7), noisy(1000, 8)
	cfg := Config{Epochs: 3, LR: 0.1, BatchSize: 64, Seed: 5}
	var hist [2][]Epoch
	for i, unfused := range []bool{false, true} {
		m, _ := model.New(784, 10, 0.01, 5)
		h, err := (&Trainer{Config: cfg, Unfused: unfused}).Fit(context.Background(), m, tr, te)
		if err != nil {
			t.Fatal(err)
		}
		hist[i] = h
	}
	f, u := hist[0][len(hist[0])-1], hist[1][len(hist[1])-1]
	t.Logf("fused %+v\nunfused %+v", f, u)
	if f.ValAcc < 0.3 || f.ValAcc > 0.99 {
		t.Fatalf("accuracy %v: the data set no longer tests anything", f.ValAcc)
	}
	if math.Abs(f.ValAcc-u.ValAcc) > 0.001 || math.Abs(f.TrainAcc-u.TrainAcc) > 0.001 {
		t.Errorf("accuracy fused %v/%v, unfused %v/%v (train/val): more than 0.1 point apart", f.TrainAcc, f.ValAcc, u.TrainAcc, u.ValAcc)
	}
	if math.Abs(f.ValLoss-u.ValLoss) > 1e-4*u.ValLoss {
		t.Errorf("validation loss fused %v, unfused %v", f.ValLoss, u.ValLoss)
	}
}

// TestFusedTrainsLikeUnfusedOnFashionMNIST is TestFusedTrainsLikeUnfused
// with the default recipe on Fashion-MNIST (SOFTMAXCTL_TEST_DATA).
func TestFusedTrainsLikeUnfusedOnFashionMNIST(t *testing.T) {
	testenv.SkipShort(t, "trains 20 epochs")
	dir := testenv.Data(t)
	spec, _ := dataset.Lookup("fashion-mnist")
	tr, err := dataset.Load(dir, spec, dataset.Train)
	if err != nil {
		t.Fatal(err)
	}
	te, err := dataset.Load(dir, spec, dataset.Test)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Epochs: 10, LR: 0.1, BatchSize: 256, Seed: 0}
	var acc [2]float64
	for i, unfused := range []bool{false, true} {
		m, _ := model.New(784, 10, 0.01, 0)
		h, err := (&Trainer{Config: cfg, Unfused: unfused}).Fit(context.Background(), m, tr, te)
		if err != nil {
			t.Fatal(err)
		}
		acc[i] = h[len(h)-1].ValAcc
	}
	t.Logf("test accuracy after 10 epochs: fused %.4f, unfused %.4f", acc[0], acc[1])
	if math.Abs(acc[0]-acc[1]) > 0.001 {
		t.Errorf("test accuracy fused %.4f, unfused %.4f: more than 0.1 point apart", acc[0], acc[1])
	}
}
