# softmaxctl build, test and benchmark targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/softmaxctl/softmaxctl/internal/cli.Version=$(VERSION)
PKGS    := ./...

.PHONY: all build install test vet fmt-check fuzz bench clean

all: build

## build: the static, cgo-free binary ./softmaxctl
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o softmaxctl ./cmd/softmaxctl

install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/softmaxctl

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
	$(GO) test ./internal/checkpoint -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)

## bench: Go benchmarks (step, epoch, gather, SGEMM; gonum and fast side
## by side) and the whole-process comparison with the plain Gorgonia loop
DATA ?= ../shared/data/fashion-mnist
RUNS ?= 5
bench:
	SOFTMAXCTL_TEST_DATA=$(DATA) $(GO) test -run '^$$' -bench . -benchtime 20x ./internal/train
	$(GO) test -run '^$$' -bench 'Gather' ./internal/dataset
	$(GO) test -run '^$$' -bench 'Sgemm$$' ./internal/blas
	$(GO) run ./bench/compare -runs $(RUNS) -data $(DATA)

clean:
	rm -f softmaxctl
