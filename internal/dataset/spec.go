// Package dataset reads the MNIST-style data sets that softmaxctl trains on:
// it describes them as published (Spec: files, checksums, mirrors), reads
// their IDX files into memory (ReadIDX, Load) and hands out shuffled
// mini-batches of scaled pixels and one-hot labels (Set, Shuffler).
// Fetching them and judging whether files are the official ones is package
// fetch's; dataset never touches the network and never imports fetch.
//
// Pixels stay bytes in memory (47 MB for the Fashion-MNIST training split
// instead of 188 MB as float32) and are scaled to [0, 1] only when a batch is
// gathered.
package dataset

import (
	"fmt"
	"slices"
	"strings"
)

// NumClasses is the number of classes in every known data set; labels are
// in 0..NumClasses-1.
const NumClasses = 10

// File is one file of a data set as it is published.
type File struct {
	Name string // file name, the same on every mirror and on disk
	MD5  string // lower-case hex MD5 of the published (compressed) file
	// SHA256 is the lower-case hex SHA-256 of the file's decompressed
	// bytes (the IDX file itself), or "" when no authoritative value is
	// known. It recognises a re-compressed copy of the official file,
	// whose MD5 differs (see fetch.ContentSHA256).
	SHA256 string
}

// Spec describes one data set.
type Spec struct {
	Name    string   // "fashion-mnist", "mnist" or "kmnist"
	Classes []string // NumClasses class names, indexed by label
	// Files are, in order: train images, train labels, test images, test
	// labels.
	Files [4]File
	// Mirrors are the default base URLs, tried in order; each ends in "/"
	// so that a file's URL is the mirror followed by the file's name.
	Mirrors []string
	// SystemDirs are folders where an operating-system package installs
	// a copy of the files (Debian's dataset-fashion-mnist, for one).
	// fetch.Download copies from the first that exists before it tries the
	// Mirrors, unless it was given mirrors of its own; each file is
	// verified as from any mirror.
	SystemDirs []string
	// Archive, if not nil, is the one file the data set is published as
	// (CIFAR-10); Files is then unused.
	Archive *Archive
	// MaxBytes, if positive, is the largest download fetch.Download
	// accepts for this data set by default, for a file larger than
	// fetch.DefaultMaxBytes.
	MaxBytes int64
}

// Downloads returns the files that make the data set as published: its
// archive, or its four IDX files.
func (s Spec) Downloads() []File {
	if s.Archive != nil {
		return []File{s.Archive.File}
	}
	return s.Files[:]
}

// The same four file names are used by MNIST and Fashion-MNIST.
const (
	trainImages = "train-images-idx3-ubyte.gz"
	trainLabels = "train-labels-idx1-ubyte.gz"
	testImages  = "t10k-images-idx3-ubyte.gz"
	testLabels  = "t10k-labels-idx1-ubyte.gz"
)

// specs is in the order Names reports.
var specs = []Spec{
	{
		Name: "fashion-mnist",
		Classes: []string{
			"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
			"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
		},
		// The SHA-256s are those of the decompressed official files: the
		// label files' were computed from the official archives (same
		// MD5), the image files' from a re-compressed copy with the
		// official pixels, and Debian's re-compressed package has the
		// same four.
		Files: [4]File{
			{trainImages, "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"},
			{trainLabels, "25c81989df183df01b3e8a0aad5dffbe", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"},
			{testImages, "bef4ecab320f06d8554ea6380940ec79", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"},
			{testLabels, "bb300cfdad3c16e7a12a480ee83cd310", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
		},
		Mirrors: []string{
			"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
			"https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
		},
		SystemDirs: []string{"/usr/share/datasets/fashion-mnist"},
	},
	{
		Name:    "mnist",
		Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		// These are the sums torchvision checks; its mirror serves the
		// same bytes as the original site. No authoritative SHA-256 of the
		// decompressed files is known, so only the archives' MD5s check
		// MNIST (and KMNIST): a re-compressed copy loads, but is not
		// recognised as the official one.
		Files: [4]File{
			{trainImages, "f68b3c2dcbeaaa9fbdd348bbdeb94873", ""},
			{trainLabels, "d53e105ee54ea40749a09fcbcd1e9432", ""},
			{testImages, "9fb629c4189551a2d022fa330f9573f3", ""},
			{testLabels, "ec29112dd5afa0611ce80d1b7f02629c", ""},
		},
		Mirrors: []string{
			"https://ossci-datasets.s3.amazonaws.com/mnist/",
			"http://yann.lecun.com/exdb/mnist/",
		},
	},
	{
		// Kuzushiji-MNIST: ten cursive hiragana, one class per row of the
		// syllabary (お き す つ な は ま や れ を). The MD5s are those
		// torchvision checks, for the files at the authors' site.
		Name:    "kmnist",
		Classes: []string{"お", "き", "す", "つ", "な", "は", "ま", "や", "れ", "を"},
		Files: [4]File{
			{trainImages, "bdb82020997e1d708af4cf47b453dcf7", ""},
			{trainLabels, "e144d726b3acfaa3e44228e80efcd344", ""},
			{testImages, "5c965bf0a639b31b8f53240b1b52f4d7", ""},
			{testLabels, "7320c461ea6c1c855c0b718fb2a4b134", ""},
		},
		Mirrors: []string{"http://codh.rois.ac.jp/kmnist/dataset/kmnist/"},
	},
	{
		// CIFAR-10, binary version: 32×32 colour images, read straight
		// from the archive. The MD5 is the one the dataset's page lists
		// (and torchvision checks); the archive is 170,052,171 bytes.
		Name: "cifar10",
		Classes: []string{
			"airplane", "automobile", "bird", "cat", "deer",
			"dog", "frog", "horse", "ship", "truck",
		},
		Archive: &Archive{
			File: File{Name: "cifar-10-binary.tar.gz", MD5: "c32a1d4ab5d03f1284b67883e8d87530"},
			Train: []string{
				"cifar-10-batches-bin/data_batch_1.bin", "cifar-10-batches-bin/data_batch_2.bin",
				"cifar-10-batches-bin/data_batch_3.bin", "cifar-10-batches-bin/data_batch_4.bin",
				"cifar-10-batches-bin/data_batch_5.bin",
			},
			Test: []string{"cifar-10-batches-bin/test_batch.bin"},
		},
		Mirrors:  []string{"https://www.cs.toronto.edu/~kriz/"},
		MaxBytes: 200 << 20,
	},
}

// Names returns the names of the known data sets, the default first.
func Names() []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}

// Lookup returns the Spec of the data set called name. The result is a copy:
// callers may change it (tests swap in their own MD5s and mirrors) without
// affecting later calls.
func Lookup(name string) (Spec, error) {
	for _, s := range specs {
		if s.Name == name {
			s.Classes = slices.Clone(s.Classes)
			s.Mirrors = slices.Clone(s.Mirrors)
			s.SystemDirs = slices.Clone(s.SystemDirs)
			if s.Archive != nil {
				a := *s.Archive
				a.Train, a.Test = slices.Clone(a.Train), slices.Clone(a.Test)
				s.Archive = &a
			}
			return s, nil
		}
	}
	return Spec{}, fmt.Errorf("unknown dataset %q: use one of %s", name, strings.Join(Names(), ", "))
}

// Split names one half of a data set.
type Split string

// The two splits every known data set has.
const (
	Train Split = "train"
	Test  Split = "test"
)

// SplitFiles returns the images and labels files of split, those Load
// reads and fetch.CheckSplit checks. A data set published as an Archive
// has none: its Files are unused.
func (s Spec) SplitFiles(split Split) (images, labels File, err error) {
	switch split {
	case Train:
		return s.Files[0], s.Files[1], nil
	case Test:
		return s.Files[2], s.Files[3], nil
	}
	return File{}, File{}, fmt.Errorf("unknown split %q: use %q or %q", split, Train, Test)
}
