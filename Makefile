# softmaxctl build, test and benchmark targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/softmaxctl/softmaxctl/internal/cli.Version=$(VERSION)
PKGS    := ./...

.PHONY: all build build-cuda install test vet fmt-check fuzz bench clean

all: build

## build: the static, cgo-free binary ./softmaxctl
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o softmaxctl ./cmd/softmaxctl

install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/softmaxctl

## build-cuda: ./softmaxctl-cuda, linked against libcuda, cuBLAS and NVRTC
## through gorgonia.org/cu. The tag is softmaxctl_cuda, not cuda: with cuda,
## Gorgonia compiles its own CUDA machine, whose cuDNN 7-era calls current
## cuDNN lacks. internal/device/cudacompat comes first on the include path:
## it maps the calls CUDA 13 changed back to their old signatures.
CUDA_HOME ?= /usr/local/cuda
build-cuda:
	CGO_ENABLED=1 \
	CGO_CFLAGS="-I$(CURDIR)/internal/device/cudacompat -I$(CUDA_HOME)/include" \
	CGO_LDFLAGS="-L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/lib64/stubs" \
	$(GO) build -tags softmaxctl_cuda -trimpath -ldflags '$(LDFLAGS)' -o softmaxctl-cuda ./cmd/softmaxctl

## test: formatting, vet and every test (the real-data acceptance test runs
## when SOFTMAXCTL_TEST_DATA names a Fashion-MNIST folder)
test: fmt-check vet
	$(GO) test -count=1 -timeout 30m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./internal/dataset -run '^$$' -fuzz FuzzReadIDX -fuzztime $(FUZZTIME)
	$(GO) test ./internal/checkpoint -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/checkpoint -run '^$$' -fuzz FuzzDecodeMetadata -fuzztime $(FUZZTIME)
	$(GO) test ./internal/imageprep -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)

## bench: Go benchmarks (step, pipeline, epoch, gather, SGEMM; gonum and
## fast side by side) and the whole-process comparison with the plain
## Gorgonia loop and, when $(PYTHON) imports numpy and torch, NumPy and
## PyTorch (bench/peers). DATA is the Fashion-MNIST folder; without it
## softmaxctl's own is used ($$SOFTMAXCTL_DATA/fashion-mnist, else the user
## cache). A relative DATA is taken from the repository root: go test runs
## each package in its own folder, so the path is made absolute here.
DATA       ?=
RUNS       ?= 5
PYTHON     ?= python3
BENCH_DATA  = $(if $(DATA),$(abspath $(DATA)))
bench:
	SOFTMAXCTL_TEST_DATA=$(BENCH_DATA) $(GO) test -run '^$$' -bench . -benchtime 20x ./internal/train
	$(GO) test -run '^$$' -bench 'Gather' ./internal/dataset
	$(GO) test -run '^$$' -bench 'Sgemm$$' ./internal/blas
	$(GO) run ./bench/compare -runs $(RUNS) -python $(PYTHON) $(if $(BENCH_DATA),-data $(BENCH_DATA))

clean:
	rm -f softmaxctl softmaxctl-cuda
