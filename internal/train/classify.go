package train

import (
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// Classifier gives the class probabilities of images a model has never
// seen: the forward graph the Evaluator runs, fed from pixels instead of a
// labelled split. predict and export-onnx's checks use it; its answers
// are the Evaluator's, image for image (a test in cli checks this on the
// whole test split).
type Classifier struct {
	m  *model.Model
	gr *model.Graph
}

// NewClassifier builds the forward graph for batches of up to batch rows.
func NewClassifier(m *model.Model, batch int, opts ...model.GraphOption) (*Classifier, error) {
	gr, err := m.NewGraph(max(1, batch), false, opts...)
	if err != nil {
		return nil, err
	}
	return &Classifier{m: m, gr: gr}, nil
}

// Close releases the graph.
func (c *Classifier) Close() error { return c.gr.Close() }

// Probs returns the class probabilities of the n images in x (n×In pixels
// scaled as the model was trained, before its standardisation, which
// Probs applies), n×Out, in float64 so that small ones print correctly.
func (c *Classifier) Probs(x []float32, n int) ([]float64, error) {
	m, gr := c.m, c.gr
	gx, gy := gr.Inputs()
	probs := make([]float64, 0, n*m.Out)
	for lo := 0; lo < n; lo += gr.Batch {
		hi := min(lo+gr.Batch, n)
		clear(gx)
		clear(gy)
		copy(gx, x[lo*m.In:hi*m.In])
		if m.Norm != nil {
			m.Norm.Apply(gx, hi-lo)
		}
		if _, err := gr.Run(); err != nil {
			return nil, err
		}
		logits := gr.Logits()[:(hi-lo)*m.Out]
		for i := 0; i < len(logits); i += m.Out {
			probs = append(probs, model.Probabilities(logits[i:i+m.Out])...)
		}
	}
	return probs, nil
}

// Classify is a one-shot Classifier.Probs.
func Classify(m *model.Model, x []float32, n int, batch int) ([]float64, error) {
	c, err := NewClassifier(m, min(n, batch))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Probs(x, n)
}
