// Package photoacc measures how well a model classifies photos: it renders
// a dataset's own test images as phone photos (package phototest),
// prepares each photo as predict does (imageprep.Decode, then
// imageprep.Prepare), and compares the model's answer with the label and
// with its answer on the plain 28×28 image. The figures in docs/predict.md
// ("Accuracy on photos", written by scripts/phototable) and the test that
// holds predict to its targets on photos both come from Measure.
//
// It is a package of its own because imageprep's tests import phototest,
// so phototest cannot import imageprep.
package photoacc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/imageprep"
	"github.com/softmaxctl/softmaxctl/internal/imageprep/phototest"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/train"
)

// UnsureProb is the top class probability under which a photo's answer
// counts as unsure: with ten classes, under 0.40 means no class is even
// close to a majority of the model's belief.
const UnsureProb = 0.40

// Options tunes Measure.
type Options struct {
	// Prep is how a photo is prepared: the Box of the model's
	// preprocessing (checkpoint.Preprocess); the zero value suits
	// Fashion-MNIST.
	Prep imageprep.Options
	// Workers is how many photos are rendered and prepared at once; 0
	// means GOMAXPROCS. Preparing one photo takes tens of milliseconds,
	// so this is where the time goes.
	Workers int
	// OnCondition, if set, receives each condition's figures as soon as
	// they are measured (a long run's progress).
	OnCondition func(Figures)
}

// Figures are one condition's counts over N images.
type Figures struct {
	// Condition is the phototest condition's name.
	Condition string
	// N is the number of images.
	N int
	// PlainCorrect counts the plain 28×28 images classified as labelled;
	// PhotoCorrect the photos.
	PlainCorrect, PhotoCorrect int
	// Agree counts the photos whose top class is the plain image's.
	Agree int
	// Unsure counts the photos flagged for at least one reason: Prepare
	// found no object (Blank), found a small one or an uneven background
	// (imageprep.Result), or the top probability is under UnsureProb.
	// Blank, Small, Uneven and LowProb count each reason.
	Unsure                        int
	Blank, Small, Uneven, LowProb int
	// SureCorrect counts the photos classified as labelled among those
	// not flagged unsure.
	SureCorrect int
}

// share is k/n, 0 when n is 0.
func share(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}

// PlainAcc is the accuracy on the plain images.
func (f Figures) PlainAcc() float64 { return share(f.PlainCorrect, f.N) }

// PhotoAcc is the accuracy on the photos.
func (f Figures) PhotoAcc() float64 { return share(f.PhotoCorrect, f.N) }

// Agreement is the share of photos given the plain image's top class.
func (f Figures) Agreement() float64 { return share(f.Agree, f.N) }

// UnsureShare is the share of photos flagged unsure.
func (f Figures) UnsureShare() float64 { return share(f.Unsure, f.N) }

// SureAcc is the accuracy on the photos not flagged unsure.
func (f Figures) SureAcc() float64 { return share(f.SureCorrect, f.N-f.Unsure) }

// Measure classifies the first n images of set (a 28×28 grayscale test
// split with labels) with m, plain and as a photo under each of conds.
// Image i is rendered with seed i, so the same model, set, n and
// conditions always give the same figures.
func Measure(ctx context.Context, m *model.Model, set *dataset.Set, n int, conds []phototest.Condition, opts Options) ([]Figures, error) {
	const side = phototest.Side
	if set.Rows != side || set.Cols != side || set.Chans() != 1 {
		return nil, fmt.Errorf("photoacc: need %d×%d grayscale images, got %d×%d×%d", side, side, set.Chans(), set.Rows, set.Cols)
	}
	if m.In != side*side {
		return nil, fmt.Errorf("photoacc: model takes %d inputs, want %d", m.In, side*side)
	}
	if set.Labels == nil || n < 1 || n > set.N {
		return nil, fmt.Errorf("photoacc: need 1..%d labelled images, asked for %d", set.N, n)
	}
	cls, err := train.NewClassifier(m, min(n, 256))
	if err != nil {
		return nil, fmt.Errorf("photoacc: %w", err)
	}
	defer cls.Close()

	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x := make([]float32, n*m.In)
	set.Gather(idx, x, nil)
	plainProbs, err := cls.Probs(x, n)
	if err != nil {
		return nil, fmt.Errorf("photoacc: classifying the plain images: %w", err)
	}
	plain := make([]int, n)
	for i := range plain {
		plain[i], _ = top(plainProbs[i*m.Out : (i+1)*m.Out])
	}

	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var out []Figures
	for _, c := range conds {
		results, err := prepareAll(ctx, c, set, n, x, opts.Prep, workers)
		if err != nil {
			return nil, err
		}
		probs, err := cls.Probs(x, n)
		if err != nil {
			return nil, fmt.Errorf("photoacc: %s: classifying the photos: %w", c.Name, err)
		}
		f := Figures{Condition: c.Name, N: n}
		for i, r := range results {
			label := int(set.Labels[i])
			cl, p := top(probs[i*m.Out : (i+1)*m.Out])
			small, low := r.SmallObject(), p < UnsureProb
			f.PlainCorrect += b2i(plain[i] == label)
			f.PhotoCorrect += b2i(cl == label)
			f.Agree += b2i(cl == plain[i])
			f.Blank += b2i(r.Blank)
			f.Small += b2i(small)
			f.Uneven += b2i(r.Uneven)
			f.LowProb += b2i(low)
			if r.Blank || small || r.Uneven || low {
				f.Unsure++
			} else {
				f.SureCorrect += b2i(cl == label)
			}
		}
		if opts.OnCondition != nil {
			opts.OnCondition(f)
		}
		out = append(out, f)
	}
	return out, nil
}

// prepareAll renders the first n images of set under c, decodes and
// prepares each photo, and writes the results, scaled by 1/255 as the
// model was trained, into x (n×784). The photos are independent, so they
// are spread over workers goroutines.
func prepareAll(ctx context.Context, c phototest.Condition, set *dataset.Set, n int, x []float32, prep imageprep.Options, workers int) ([]imageprep.Result, error) {
	const in = phototest.Side * phototest.Side
	results := make([]imageprep.Result, n)
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return nil
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				ph, err := c.Render(set.Pix[i*in:(i+1)*in], uint64(i))
				if err != nil {
					return fmt.Errorf("photoacc: %s: image %d: %w", c.Name, i, err)
				}
				img, err := imageprep.Decode(bytes.NewReader(ph.Data))
				if err != nil {
					return fmt.Errorf("photoacc: %s: image %d: decoding its %s photo: %w", c.Name, i, ph.Ext, err)
				}
				r := imageprep.Prepare(img, imageprep.InvertAuto, prep)
				for j, p := range r.Pix {
					x[i*in+j] = float32(p) / 255
				}
				r.Pix = nil // only the flags are kept: n results of 784 bytes add up
				results[i] = r
			}
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// top returns the most probable class and its probability (the first of
// equals, as predict ranks them).
func top(p []float64) (int, float64) {
	best := 0
	for k, v := range p {
		if v > p[best] {
			best = k
		}
	}
	return best, p[best]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Markdown writes figs as a markdown table: per condition, the accuracy
// on the plain images and on the photos, the agreement between them, the
// share flagged unsure and the accuracy on the photos that were not.
func Markdown(w io.Writer, figs []Figures) error {
	if _, err := fmt.Fprintln(w, "| condition | plain acc | photo acc | agreement | unsure | photo acc, sure only |\n|---|---:|---:|---:|---:|---:|"); err != nil {
		return err
	}
	for _, f := range figs {
		if _, err := fmt.Fprintf(w, "| %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n",
			f.Condition, f.PlainAcc(), f.PhotoAcc(), f.Agreement(), f.UnsureShare(), f.SureAcc()); err != nil {
			return err
		}
	}
	return nil
}

// DefaultConfig is the default recipe of softmaxctl train (its flags'
// defaults: 10 epochs, learning rate 0.1, batches of 256, seed 0), with
// the initial weights' sigma 0.01 that TrainDefault uses.
var DefaultConfig = train.Config{Epochs: 10, LR: 0.1, BatchSize: 256, Seed: 0}

// defaultSigma is softmaxctl train's default --sigma.
const defaultSigma = 0.01

// TrainDefault trains the default recipe (DefaultConfig) on trainSet, as
// softmaxctl train does without flags, scoring each epoch on valSet, and
// returns the model and its last epoch.
func TrainDefault(ctx context.Context, trainSet, valSet *dataset.Set) (*model.Model, train.Epoch, error) {
	m, err := model.New(trainSet.Dim(), trainSet.NumClass(), defaultSigma, DefaultConfig.Seed)
	if err != nil {
		return nil, train.Epoch{}, fmt.Errorf("photoacc: %w", err)
	}
	h, err := (&train.Trainer{Config: DefaultConfig}).Fit(ctx, m, trainSet, valSet)
	if err != nil {
		return nil, train.Epoch{}, fmt.Errorf("photoacc: training the default recipe: %w", err)
	}
	return m, h[len(h)-1], nil
}

// Saved is a model saved by softmaxctl train, ready for Measure.
type Saved struct {
	Model *model.Model
	// Prep is the preprocessing predict applies for the model.
	Prep imageprep.Options
	// Dataset names the dataset the model was trained on
	// (dataset.Lookup).
	Dataset string
}

// LoadModel reads a model saved by softmaxctl train. Only models of the
// photo pipeline (checkpoint.PrepMNIST) on 28×28 inputs scaled by 1/255
// can be measured: the others are refused.
func LoadModel(path string) (*Saved, error) {
	ck, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	prep := ck.Meta.Prep()
	if prep.Kind != checkpoint.PrepMNIST || ck.In != phototest.Side*phototest.Side || ck.Meta.Scaling != "pixel/255" {
		return nil, fmt.Errorf("model %s: preprocessing %q on %d inputs scaled %q; photos need %q on 28×28 inputs scaled pixel/255",
			path, prep.Kind, ck.In, ck.Meta.Scaling, checkpoint.PrepMNIST)
	}
	m, err := model.FromParams(ck.In, ck.Out, ck.W, ck.B)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	// A model trained with --standardize stores its standardisation;
	// the classifier applies it, as predict's does.
	mean, std := ck.Extra[checkpoint.TensorMean], ck.Extra[checkpoint.TensorStd]
	if mean != nil || std != nil {
		m.Norm = &model.Standardizer{Mean: mean, Std: std}
		if err := m.Norm.Check(ck.In); err != nil {
			return nil, fmt.Errorf("model %s: %w", path, err)
		}
	}
	return &Saved{Model: m, Prep: imageprep.Options{Box: prep.Box}, Dataset: ck.Meta.Dataset}, nil
}
