# softmaxctl build, test and benchmark targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/softmaxctl/softmaxctl/internal/cli.Version=$(VERSION)
PKGS    := ./...

.PHONY: all build build-cuda check-cuda cuda-checks gpu-bundle bundle-files install test vet fmt-check fuzz bench clean

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
## CGO_CFLAGS replaces cgo's default "-g -O2", so -O2 is said again: cu's C
## wrappers would otherwise be built unoptimised.
CUDA_HOME ?= /usr/local/cuda
CUDA_TAG  := softmaxctl_cuda
CUDA_ENV   = CGO_ENABLED=1 \
	CGO_CFLAGS="-O2 -I$(CURDIR)/internal/device/cudacompat -I$(CUDA_HOME)/include" \
	CGO_LDFLAGS="-L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/lib64/stubs"
CUDA_BUILDFLAGS ?= -trimpath
build-cuda:
	$(CUDA_ENV) $(GO) build -tags $(CUDA_TAG) $(CUDA_BUILDFLAGS) -ldflags '$(LDFLAGS)' -o softmaxctl-cuda ./cmd/softmaxctl

## check-cuda: the CUDA build compiled, linked and tested without a GPU (CI
## runs it). scripts/cuda-sdk.sh lays out CUDA 11.8's headers, checked
## against scripts/cuda-headers.sha256, and no-GPU stub libraries, cached
## outside the repository; then: go vet with the tag, softmaxctl-cuda, every
## tagged test binary, and the tests that need no GPU run against the stub
## driver (cuInit answers CUDA_ERROR_NO_DEVICE), the built binary included.
## SOFTMAXCTL_TEST_CUDA=none makes a test that cannot see the no-GPU path
## fail rather than skip. It builds without -trimpath, so that it reuses the
## packages make test compiled: with -trimpath, the standard library and
## every dependency would be compiled again, a minute on a clean machine.
CUDA_TESTS := .cuda/tests
check-cuda:
	@sdk=$$(scripts/cuda-sdk.sh) && $(MAKE) --no-print-directory cuda-checks CUDA_HOME="$$sdk"

cuda-checks:
	$(CUDA_ENV) $(GO) vet -tags $(CUDA_TAG) $(PKGS)
	$(MAKE) --no-print-directory build-cuda CUDA_BUILDFLAGS=
	rm -rf $(CUDA_TESTS) && mkdir -p $(CUDA_TESTS)
	$(CUDA_ENV) $(GO) test -tags $(CUDA_TAG) -c -o $(CUDA_TESTS)/ $(PKGS)
	@# Every test binary must start with the stub driver: nothing may end
	@# the process before main.
	@for t in $(CUDA_TESTS)/*.test; do \
		LD_LIBRARY_PATH=$(CUDA_HOME)/lib64 $$t -test.run '^$$' >/dev/null || { echo "$$t does not start"; exit 1; }; \
	done; echo "started with the stub driver: $$(cd $(CUDA_TESTS) && echo *.test)"
	@# A test binary runs in its package's folder, as go test runs it.
	cd internal/device && LD_LIBRARY_PATH=$(CUDA_HOME)/lib64 SOFTMAXCTL_TEST_CUDA=none \
		$(CURDIR)/$(CUDA_TESTS)/device.test -test.v -test.run 'CUDA|Select|Kernel'
	cd internal/cli && LD_LIBRARY_PATH=$(CUDA_HOME)/lib64 SOFTMAXCTL_TEST_CUDA=none SOFTMAXCTL_CUDA_BIN=$(CURDIR)/softmaxctl-cuda \
		$(CURDIR)/$(CUDA_TESTS)/cli.test -test.v -test.run 'CUDA'

## gpu-bundle: .cuda/bundle/, the folder scripts/gpu-check.sh runs from on a
## GPU machine without Go: softmaxctl-cuda and the tagged test binaries of
## internal/device and internal/cli (with the files the tests read), the
## four Fashion-MNIST files of DATA, and the script. The binaries name the
## cuBLAS and NVRTC of the CUDA they were linked against (libcublas.so.N):
## set CUDA_HOME to a CUDA of the GPU machine's major version, or leave it
## unset for CUDA 11.8 from scripts/cuda-sdk.sh.
BUNDLE := .cuda/bundle
gpu-bundle:
	@home="$(CUDA_HOME)"; \
	if [ ! -f "$$home/include/cuda.h" ]; then home=$$(scripts/cuda-sdk.sh) || exit 1; \
		echo "CUDA_HOME has no include/cuda.h: building against CUDA 11.8 ($$home)"; fi; \
	$(MAKE) --no-print-directory bundle-files CUDA_HOME="$$home"

bundle-files:
	rm -rf $(BUNDLE) && mkdir -p $(BUNDLE)/device $(BUNDLE)/cli $(BUNDLE)/data
	$(MAKE) --no-print-directory build-cuda
	cp softmaxctl-cuda scripts/gpu-check.sh $(BUNDLE)/
	$(CUDA_ENV) $(GO) test -tags $(CUDA_TAG) -trimpath -c -o $(BUNDLE)/device/device.test ./internal/device
	$(CUDA_ENV) $(GO) test -tags $(CUDA_TAG) -trimpath -c -o $(BUNDLE)/cli/cli.test ./internal/cli
	cp -r internal/device/kernels internal/device/cudacompat internal/device/testdata $(BUNDLE)/device/
	cp $(addprefix $(DATA)/,train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz) $(BUNDLE)/data/
	@echo "$(BUNDLE): $$(du -sh $(BUNDLE) | cut -f1); the binaries need: $$(readelf -d softmaxctl-cuda | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"

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
	rm -f softmaxctl softmaxctl-cuda
