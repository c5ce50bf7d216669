// Command plainloop is the reference that softmaxctl's speed is measured
// against: the chapter's recipe written the straightforward way with
// Gorgonia — every image converted to float32 up front, a fresh input
// tensor bound with G.Let for each batch, the tape machine with Gorgonia's
// default pure-Go BLAS, and Gorgonia's VanillaSolver for the SGD step. It
// uses the same graph definition (model.Forward, model.CrossEntropyFromLogits),
// the same initial weights and the same shuffling as softmaxctl, so the two
// reach the same accuracy and differ only in how fast they get there.
//
// It prints one JSON line like the summary of `softmaxctl train --json`:
//
//	go run ./bench/plainloop [-data DIR]
//
// Without -data it reads softmaxctl's own folder: $SOFTMAXCTL_DATA/
// fashion-mnist, else the user cache.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "plainloop: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	start := time.Now()
	data := flag.String("data", "", "folder with Fashion-MNIST (default $SOFTMAXCTL_DATA/fashion-mnist, else the user cache)")
	epochs := flag.Int("epochs", 10, "epochs")
	lr := flag.Float64("lr", 0.1, "learning rate")
	batch := flag.Int("batch-size", 256, "batch size")
	seed := flag.Int64("seed", 0, "seed")
	flag.Parse()

	spec, _ := dataset.Lookup("fashion-mnist")
	dir, err := dataset.ResolveDir(*data, dataRoot(), spec.Name)
	if err != nil {
		return err
	}
	trainSet, err := dataset.Load(dir, spec, dataset.Train)
	if err != nil {
		return err
	}
	testSet, err := dataset.Load(dir, spec, dataset.Test)
	if err != nil {
		return err
	}
	trainX, trainY := toFloat(trainSet)
	testX, _ := toFloat(testSet)

	m, err := model.New(784, 10, 0.01, *seed)
	if err != nil {
		return err
	}
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(*batch, 784), G.WithName("X"))
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(*batch, 10), G.WithName("Y"))
	w := G.NewMatrix(g, tensor.Float32, G.WithShape(784, 10), G.WithName("W"),
		G.WithValue(tensor.New(tensor.WithShape(784, 10), tensor.WithBacking(m.W))))
	b := G.NewVector(g, tensor.Float32, G.WithShape(10), G.WithName("b"),
		G.WithValue(tensor.New(tensor.WithShape(10), tensor.WithBacking(m.B))))
	logits, err := model.Forward(x, w, b)
	if err != nil {
		return err
	}
	loss, err := model.CrossEntropyFromLogits(logits, y)
	if err != nil {
		return err
	}
	if _, err := G.Grad(loss, w, b); err != nil {
		return err
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(w, b))
	defer vm.Close()
	solver := G.NewVanillaSolver(G.WithLearnRate(*lr))
	params := G.NodesToValueGrads(G.Nodes{w, b})

	// A forward-only graph over the same weight tensors, for the test set:
	// running the training graph on it would add its gradients into W's.
	eg := G.NewGraph()
	ex := G.NewMatrix(eg, tensor.Float32, G.WithShape(*batch, 784), G.WithName("X"))
	ew := G.NewMatrix(eg, tensor.Float32, G.WithShape(784, 10), G.WithName("W"), G.WithValue(w.Value()))
	eb := G.NewVector(eg, tensor.Float32, G.WithShape(10), G.WithName("b"), G.WithValue(b.Value()))
	elogits, err := model.Forward(ex, ew, eb)
	if err != nil {
		return err
	}
	var logitsVal G.Value
	G.Read(elogits, &logitsVal)
	evm := G.NewTapeMachine(eg)
	defer evm.Close()

	// One batch of inputs: rows past the data are zero, which the loss
	// ignores, as in softmaxctl.
	bind := func(x, y *G.Node, srcX, srcY []float32, idx []int) error {
		bx := make([]float32, *batch*784)
		by := make([]float32, *batch*10)
		for k, i := range idx {
			copy(bx[k*784:], srcX[i*784:(i+1)*784])
			if srcY != nil {
				copy(by[k*10:], srcY[i*10:(i+1)*10])
			}
		}
		if err := G.Let(x, tensor.New(tensor.WithShape(*batch, 784), tensor.WithBacking(bx))); err != nil {
			return err
		}
		if y == nil {
			return nil
		}
		return G.Let(y, tensor.New(tensor.WithShape(*batch, 10), tensor.WithBacking(by)))
	}

	// Test accuracy after every epoch, as the chapter measures it.
	pred := make([]int, *batch)
	evaluate := func() (float64, error) {
		correct := 0
		for lo := 0; lo < testSet.N; lo += *batch {
			hi := min(lo+*batch, testSet.N)
			if err := bind(ex, nil, testX, nil, dataset.Sequential(testSet.N)[lo:hi]); err != nil {
				return 0, err
			}
			if err := evm.RunAll(); err != nil {
				return 0, err
			}
			model.Argmax(logitsVal.Data().([]float32)[:(hi-lo)*10], 10, pred[:hi-lo])
			for k := range hi - lo {
				if pred[k] == int(testSet.Labels[lo+k]) {
					correct++
				}
			}
			evm.Reset()
		}
		return float64(correct) / float64(testSet.N), nil
	}

	trainStart := time.Now()
	shuffler := dataset.NewShuffler(trainSet.N, *seed)
	var acc float64
	for e := 1; e <= *epochs; e++ {
		order := shuffler.Epoch(e)
		for lo := 0; lo < trainSet.N; lo += *batch {
			if err := bind(x, y, trainX, trainY, order[lo:min(lo+*batch, trainSet.N)]); err != nil {
				return err
			}
			if err := vm.RunAll(); err != nil {
				return err
			}
			if err := solver.Step(params); err != nil {
				return err
			}
			vm.Reset()
		}
		if acc, err = evaluate(); err != nil {
			return err
		}
	}
	trainSeconds := time.Since(trainStart).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"val_acc":       acc,
		"train_seconds": trainSeconds,
		"total_seconds": time.Since(start).Seconds(),
	})
}

// toFloat converts a whole split to float32 pixels in [0, 1] and one-hot
// labels, as a first Gorgonia program would.
func toFloat(s *dataset.Set) (x, y []float32) {
	x = make([]float32, len(s.Pix))
	for i, p := range s.Pix {
		x[i] = float32(p) / 255
	}
	y = make([]float32, s.N*10)
	for i, l := range s.Labels {
		y[i*10+int(l)] = 1
	}
	return x, y
}

// dataRoot is softmaxctl's data folder root ($SOFTMAXCTL_DATA, else the
// user cache), empty when neither is known.
func dataRoot() string {
	root, _ := dataset.DefaultRoot(os.Getenv, os.UserCacheDir)
	return root
}
