# softmaxctl build, test and benchmark targets.
GO      ?= go
# VERSION is the release a tag on the commit names (v0.2.0 gives 0.2.0);
# between releases it is empty and the binary keeps the version in the
# code (0.1.0-dev). COMMIT is the commit, with -dirty for a tree with
# changes, which `softmaxctl version` prints beside the version (the go
# command's own record of it is missing in a git worktree or under
# -buildvcs=false).
VERSION ?= $(patsubst v%,%,$(shell git describe --tags --exact-match 2>/dev/null))
COMMIT  ?= $(shell git describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null)
LDFLAGS := -s -w$(if $(VERSION), -X github.com/softmaxctl/softmaxctl/internal/cli.Version=$(VERSION))$(if $(COMMIT), -X github.com/softmaxctl/softmaxctl/internal/cli.Commit=$(COMMIT))
PKGS    := ./...
# GOBUILD is how build, install and test compile: cgo off (a static
# binary) and without -trimpath, the same for all three, so that `make
# test` after `make build` reuses every package the build compiled
# instead of compiling the standard library and the dependencies again.
GOBUILD := CGO_ENABLED=0 $(GO)

.PHONY: all docs build build-cuda check-more check-cuda cuda-checks gpu-bundle bundle-files install test vet fmt-check fuzz bench clean

all: build

## build: the static, cgo-free binary ./softmaxctl. The first build
## compiles the standard library, Gorgonia and Gonum (minutes; see the
## README's Quick start); later ones take seconds.
build:
	@[ -x softmaxctl ] || echo "building ./softmaxctl: a first build compiles Gorgonia, Gonum and the standard library, which takes minutes"
	$(GOBUILD) build -ldflags '$(LDFLAGS)' -o softmaxctl ./cmd/softmaxctl

install:
	$(GOBUILD) install -ldflags '$(LDFLAGS)' ./cmd/softmaxctl

## build-cuda: ./softmaxctl-cuda, linked against libcuda through
## gorgonia.org/cu; cuBLAS and NVRTC are opened at run time (those of CUDA
## 13, 12 or 11, whichever the driver supports), so CUDA_HOME's headers
## may be of any of them. The tag is softmaxctl_cuda, not cuda: with cuda,
## Gorgonia compiles its own CUDA machine, whose cuDNN 7-era calls current
## cuDNN lacks. internal/device/cuda/cudacompat comes first on the include path:
## it maps the calls CUDA 13 changed back to their old signatures.
## CGO_CFLAGS replaces cgo's default "-g -O2", so -O2 is said again: cu's C
## wrappers would otherwise be built unoptimised.
CUDA_HOME ?= /usr/local/cuda
CUDA_TAG  := softmaxctl_cuda
CUDA_ENV   = CGO_ENABLED=1 \
	CGO_CFLAGS="-O2 -I$(CURDIR)/internal/device/cuda/cudacompat -I$(CUDA_HOME)/include" \
	CGO_LDFLAGS="-L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/lib64/stubs"
CUDA_BUILDFLAGS ?= -trimpath
build-cuda:
	$(CUDA_ENV) $(GO) build -tags $(CUDA_TAG) $(CUDA_BUILDFLAGS) -ldflags '$(LDFLAGS)' -o softmaxctl-cuda ./cmd/softmaxctl

## check-cuda: the CUDA build compiled, linked and tested without a GPU (CI
## runs it). scripts/cuda-sdk.sh lays out CUDA 11.8's headers, checked
## against scripts/cuda-headers.sha256, no-GPU stub libraries, and NVIDIA's
## driver library and NVRTC, cached outside the repository; then: go vet
## with the tag, softmaxctl-cuda, every tagged test binary, and the tests
## that need no GPU, the built binary's included, run against the stub
## driver (cuInit answers CUDA_ERROR_NO_DEVICE), then against NVIDIA's.
## SOFTMAXCTL_TEST_CUDA=none makes a test that cannot see the no-GPU path
## fail rather than skip. Last, the GPU bundle is built and its script run
## against a stand-in for a GPU machine with only CUDA 13's libraries
## (scripts/check-bundle.sh); it needs Fashion-MNIST: DATA, else
## SOFTMAXCTL_TEST_DATA, else the folder train reads. It builds without
## -trimpath, so that it reuses the packages make test compiled: with
## -trimpath, the standard library and every dependency would be compiled
## again, a minute on a clean machine.
CUDA_TESTS := .cuda/tests
CHECK_DATA  = $(or $(DATA),$(SOFTMAXCTL_TEST_DATA))
check-cuda:
	@sdk=$$(scripts/cuda-sdk.sh) && data=$$($(GO) run ./scripts/datadir $(if $(CHECK_DATA),-data "$(abspath $(CHECK_DATA))")) && \
		$(MAKE) --no-print-directory cuda-checks CUDA_HOME="$$sdk" BUNDLE_DATA="$$data"

cuda-checks:
	$(CUDA_ENV) $(GO) vet -tags $(CUDA_TAG) $(PKGS)
	$(MAKE) --no-print-directory build-cuda CUDA_BUILDFLAGS=
	rm -rf $(CUDA_TESTS) && mkdir -p $(CUDA_TESTS)
	$(CUDA_ENV) $(GO) test -tags $(CUDA_TAG) -c -o $(CUDA_TESTS)/ $(PKGS)
	@# Every test binary must start with the stub driver: nothing may end
	@# the process before main.
	@for t in $(CUDA_TESTS)/*.test; do \
		out=$$(LD_LIBRARY_PATH=$(CUDA_HOME)/lib64 $$t -test.run '^$$' 2>&1) || { echo "$$out"; echo "$$t does not start"; exit 1; }; \
	done; echo "started with the stub driver: $$(cd $(CUDA_TESTS) && echo *.test)"
	@# A test binary runs in its package's folder, as go test runs it.
	cd internal/device/cuda && LD_LIBRARY_PATH=$(CUDA_HOME)/lib64 SOFTMAXCTL_TEST_CUDA=none SOFTMAXCTL_TEST_STUB_DRIVER=1 \
		$(CURDIR)/$(CUDA_TESTS)/cuda.test -test.v -test.run 'CUDA|Kernel'
	cd internal/device && LD_LIBRARY_PATH=$(CUDA_HOME)/lib64 SOFTMAXCTL_TEST_CUDA=none \
		$(CURDIR)/$(CUDA_TESTS)/device.test -test.v -test.run 'Select'
	cd internal/cli && LD_LIBRARY_PATH=$(CUDA_HOME)/lib64 SOFTMAXCTL_TEST_CUDA=none SOFTMAXCTL_CUDA_BIN=$(CURDIR)/softmaxctl-cuda \
		$(CURDIR)/$(CUDA_TESTS)/cli.test -test.v -test.run 'CUDA'
	@# Again with NVIDIA's own driver library, which without a GPU fails
	@# cuInit with CUDA_ERROR_NO_DEVICE, and NVRTC 11.8, which compiles the
	@# kernels for every architecture it knows (cuBLAS stays the stub).
	@# LD_BIND_NOW: a driver symbol the binary imports that the real
	@# library lacks fails here, not at its first call on a GPU.
	cd internal/device/cuda && LD_BIND_NOW=1 LD_LIBRARY_PATH=$(CUDA_HOME)/real:$(CUDA_HOME)/lib64 SOFTMAXCTL_TEST_CUDA=none SOFTMAXCTL_TEST_NVRTC=1 \
		$(CURDIR)/$(CUDA_TESTS)/cuda.test -test.v -test.run 'CUDA|KernelNVRTC'
	cd internal/device && LD_BIND_NOW=1 LD_LIBRARY_PATH=$(CUDA_HOME)/real:$(CUDA_HOME)/lib64 SOFTMAXCTL_TEST_CUDA=none \
		$(CURDIR)/$(CUDA_TESTS)/device.test -test.v -test.run 'Select'
	cd internal/cli && LD_BIND_NOW=1 LD_LIBRARY_PATH=$(CUDA_HOME)/real:$(CUDA_HOME)/lib64 SOFTMAXCTL_TEST_CUDA=none SOFTMAXCTL_CUDA_BIN=$(CURDIR)/softmaxctl-cuda \
		$(CURDIR)/$(CUDA_TESTS)/cli.test -test.v -test.run 'WithoutGPU'
	@# The GPU bundle, run as on a GPU machine with only CUDA 13's
	@# libraries and its GPU hidden (a stub CUDA 13.0 driver, stub
	@# libcublas.so.13 and libnvrtc.so.13): it must open them and fall
	@# back, within its 2-minute budget.
	$(MAKE) --no-print-directory bundle-files BUNDLE_BUILDFLAGS= BUNDLE_DATA="$(BUNDLE_DATA)"
	scripts/check-bundle.sh $(BUNDLE) $(CUDA_HOME)/lib64/fake13

## gpu-bundle: .cuda/bundle/, what scripts/gpu-check.sh needs on a GPU
## machine without Go, at most 60 MiB: the script, and payload.tar.xz
## holding softmaxctl-cuda, the tagged test binaries of internal/device,
## internal/device/cuda and internal/cli (stripped, with the files the tests read), the PyTorch
## peer of bench/peers, and the four Fashion-MNIST files of DATA (default: the folder train reads). The data
## is found, and the CUDA headers laid out, before the long build. The
## binary opens the cuBLAS and NVRTC of CUDA 11, 12 or 13 at run time, so
## a bundle built against CUDA 11.8's headers (the default, without
## CUDA_HOME) runs with any of them.
BUNDLE            := .cuda/bundle
BUNDLE_MAX_BYTES  := 62914560
BUNDLE_BUILDFLAGS ?= -trimpath
gpu-bundle:
	@data=$$($(GO) run ./scripts/datadir $(if $(DATA),-data "$(abspath $(DATA))")) || exit 1; \
	home="$(CUDA_HOME)"; \
	if [ ! -f "$$home/include/cuda.h" ]; then home=$$(scripts/cuda-sdk.sh) || exit 1; \
		echo "CUDA_HOME has no include/cuda.h: building against CUDA 11.8 ($$home)"; fi; \
	$(MAKE) --no-print-directory bundle-files CUDA_HOME="$$home" BUNDLE_DATA="$$data"

bundle-files:
	@[ -f "$(BUNDLE_DATA)/train-images-idx3-ubyte.gz" ] || { echo "bundle-files: BUNDLE_DATA ($(BUNDLE_DATA)) holds no Fashion-MNIST"; exit 1; }
	rm -rf $(BUNDLE) $(BUNDLE).tmp && mkdir -p $(BUNDLE).tmp/cuda $(BUNDLE).tmp/device $(BUNDLE).tmp/cli $(BUNDLE).tmp/data $(BUNDLE).tmp/peers $(BUNDLE)
	$(MAKE) --no-print-directory build-cuda CUDA_BUILDFLAGS=$(BUNDLE_BUILDFLAGS)
	cp softmaxctl-cuda $(BUNDLE).tmp/
	$(CUDA_ENV) $(GO) test -tags $(CUDA_TAG) $(BUNDLE_BUILDFLAGS) -ldflags '-s -w' -c -o $(BUNDLE).tmp/cuda/cuda.test ./internal/device/cuda
	$(CUDA_ENV) $(GO) test -tags $(CUDA_TAG) $(BUNDLE_BUILDFLAGS) -ldflags '-s -w' -c -o $(BUNDLE).tmp/device/device.test ./internal/device
	$(CUDA_ENV) $(GO) test -tags $(CUDA_TAG) $(BUNDLE_BUILDFLAGS) -ldflags '-s -w' -c -o $(BUNDLE).tmp/cli/cli.test ./internal/cli
	cp -r internal/device/cuda/kernels internal/device/cuda/cudacompat internal/device/cuda/testdata $(BUNDLE).tmp/cuda/
	cp bench/peers/common.py bench/peers/torch_softmax.py $(BUNDLE).tmp/peers/
	cp $(addprefix $(BUNDLE_DATA)/,train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz) $(BUNDLE).tmp/data/
	tar -C $(BUNDLE).tmp -cf - . | xz -T0 -6 >$(BUNDLE)/payload.tar.xz
	cp scripts/gpu-check.sh $(BUNDLE)/
	rm -rf $(BUNDLE).tmp
	@size=$$(du -cb $(BUNDLE)/* | tail -1 | cut -f1); \
	echo "$(BUNDLE): $$size bytes ($$((size / 1048576)) MiB; at most $$(($(BUNDLE_MAX_BYTES) / 1048576)) MiB); the binary needs: $$(readelf -d softmaxctl-cuda | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"; \
	[ $$size -le $(BUNDLE_MAX_BYTES) ] || { echo "the bundle is over its size limit"; exit 1; }

## docs: the command reference, generated from the commands' own help
## (docs/reference/*.md, docs/man/*.1); make test fails when they are
## stale (TestReferenceCurrent).
docs:
	$(GO) run ./scripts/gendocs

## test: formatting, vet and every test (the real-data acceptance tests run
## when SOFTMAXCTL_TEST_DATA names a Fashion-MNIST folder). A relative
## SOFTMAXCTL_TEST_DATA is taken from the repository root and made
## absolute: go test runs each package in its own folder.
TEST_DATA = $(if $(SOFTMAXCTL_TEST_DATA),$(abspath $(SOFTMAXCTL_TEST_DATA)))
test: fmt-check vet
	SOFTMAXCTL_TEST_DATA="$(TEST_DATA)" $(GOBUILD) test -count=1 -timeout 30m $(PKGS)
	@[ -n "$$SOFTMAXCTL_TEST_DATA" ] || echo "note: the real-data acceptance tests were skipped; to run them: make test SOFTMAXCTL_TEST_DATA=/path/to/fashion-mnist"

## check-more: what CI adds to make test: the race detector where the
## concurrency is (train, cli, dataset), the portable fallbacks (-tags
## purego, and the assembly paths switched off with GODEBUG), staticcheck,
## and go vet for the other operating systems and architectures.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
RACE_PKGS   := ./internal/train ./internal/cli ./internal/dataset/... ./internal/atomicfile
KERNEL_PKGS := ./internal/blas ./internal/dataset ./internal/train ./internal/model
check-more:
	$(GO) test -count=1 -race -timeout 30m $(RACE_PKGS)
	$(GO) test -count=1 -tags purego $(KERNEL_PKGS)
	GODEBUG=cpu.avx2=off,cpu.avx512f=off $(GO) test -count=1 $(KERNEL_PKGS)
	GODEBUG=cpu.avx512f=off $(GO) test -count=1 $(KERNEL_PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	@for os in linux darwin windows; do for arch in amd64 arm64; do \
		echo "go vet GOOS=$$os GOARCH=$$arch"; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) vet $(PKGS) || exit 1; \
	done; done

vet:
	$(GOBUILD) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## fuzz: run every fuzz target of every package for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "$$pkg $$f"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

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
