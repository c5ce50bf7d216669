package photoacc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/imageprep/phototest"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// Targets on photos of the real test images under phototest.Phone, a
// phone photo of the object on a table or paper.
const (
	// photoN is how many test images are photographed: enough that one
	// image moves a figure by 0.33 points, few enough for ~30 s on two
	// cores.
	photoN = 300
	// minPhotoAcc is the least accuracy on the photos: the default
	// recipe scores about 0.82 on the plain images, and a photo may cost
	// a few points of that, not more.
	minPhotoAcc = 0.75
	// minAgreement is the least share of photos given the plain image's
	// class: what the photo pipeline loses, whatever the model.
	minAgreement = 0.85
	// allN is how many images the other conditions are measured on, for
	// the log: a coarser look at where the Phone figures come from.
	allN = 100
)

// TestPhotoAccuracy trains the default recipe on the real Fashion-MNIST
// and holds predict's photo pipeline to its targets on photos of the
// test images under phototest.Phone; it logs every condition's figures.
func TestPhotoAccuracy(t *testing.T) {
	testenv.SkipShort(t, "trains a model and prepares 1,500 photos (~30 s on two cores)")
	dir := testenv.Data(t)
	spec, err := dataset.Lookup("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	trainSet, err := dataset.Load(dir, spec, dataset.Train)
	if err != nil {
		t.Fatal(err)
	}
	testSet, err := dataset.Load(dir, spec, dataset.Test)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, last, err := TrainDefault(ctx, trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("default recipe: val_acc %.4f", last.ValAcc)

	start := time.Now()
	figs, err := Measure(ctx, m, testSet, photoN, []phototest.Condition{phototest.Phone}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := figs[0]
	t.Logf("%s, %d images (%.1fs): plain acc %.3f, photo acc %.3f, agreement %.3f, unsure %.3f (blank %d, small %d, uneven %d, top prob < %.2f %d)",
		f.Condition, f.N, time.Since(start).Seconds(), f.PlainAcc(), f.PhotoAcc(), f.Agreement(), f.UnsureShare(), f.Blank, f.Small, f.Uneven, UnsureProb, f.LowProb)
	if f.PhotoAcc() < minPhotoAcc {
		t.Errorf("%s: photo accuracy %.3f, want at least %.2f", f.Condition, f.PhotoAcc(), minPhotoAcc)
	}
	if f.Agreement() < minAgreement {
		t.Errorf("%s: agreement with the plain images %.3f, want at least %.2f", f.Condition, f.Agreement(), minAgreement)
	}

	start = time.Now()
	all, err := Measure(ctx, m, testSet, allN, phototest.Conditions(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Markdown(&b, all); err != nil {
		t.Fatal(err)
	}
	t.Logf("every condition, %d images (%.1fs):\n%s", allN, time.Since(start).Seconds(), b.String())
}
