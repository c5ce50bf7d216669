// kernelhost runs the kernels of internal/device/kernels/kernels.cu on the
// host, for kernels_test.go: no GPU is needed to check that the kernels
// compute what the CPU executor computes, and that the launch plan and the
// row-major to column-major GEMM mapping are right.
//
// Most kernels use no shared memory and no synchronisation, so running the
// threads of a grid one after another gives the GPU's results. The
// cooperative ones (a block reducing through shared memory between
// __syncthreads) run each block's threads as concurrent host threads with a
// barrier for __syncthreads, blocks one after another: a __shared__ array
// is a function-local static, which all threads of the running block see.
// GEMMs, which cuBLAS runs on the GPU, are computed by a reference
// column-major Sgemm.
//
// Every buffer has a mapping of its own between two PROT_NONE guard pages
// and lies against one of them: by default it ends exactly where the page
// after it begins, so a kernel reading or writing one element past its end
// faults at once (as with the guard pages of Go's bytes tests); with the
// argument "start" it begins exactly where the page before it ends, so one
// reaching before its start faults. Built with -DKERNELHOST_SELFTEST, the
// harness also has kernels that index where they are told, writes where
// each buffer lies to stderr, and on a fault writes the faulting address
// there: the test that the guard pages work uses them.
//
// Input (stdin), little-endian int64 unless noted:
//   "SMXKRN01"
//   nbuf, then per buffer: dtype (0 f32, 1 i32, 2 u8), count, raw bytes
//   nlaunch, then per launch: type (0 kernel, 1 gemm), then
//     kernel: name length, name bytes, grid, block, nargs,
//             per argument: tag (0 buffer index, 1 integer), value
//     gemm:   transA, transB, m, n, k, A, lda, B, ldb, C, ldc (buffer indices)
// Output (stdout): every buffer's raw bytes, in order.
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

struct dim3_ {
	unsigned int x, y, z;
};
static dim3_ blockDim, gridDim;
static thread_local dim3_ blockIdx, threadIdx;

// Barrier is __syncthreads for the host threads of one block.
struct Barrier {
	std::mutex m;
	std::condition_variable cv;
	unsigned n = 0, waiting = 0, gen = 0;
	void wait()
	{
		std::unique_lock<std::mutex> l(m);
		unsigned g = gen;
		if (++waiting == n) {
			waiting = 0;
			gen++;
			cv.notify_all();
		} else {
			cv.wait(l, [&] { return g != gen; });
		}
	}
};
static Barrier block_barrier;
static void __syncthreads(void) { block_barrier.wait(); }

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#include "kernels.cu"

#ifdef KERNELHOST_SELFTEST
// Kernels that index where the test tells them: out[0] = in[i], out[i] = 1.
__global__ void selftest_read_f32(long long i, float *out, const float *in) { out[0] = in[i]; }
__global__ void selftest_write_f32(long long i, float *out) { out[i] = 1; }
#endif

// The kernels that synchronise within a block.
static const std::set<std::string> cooperative = {"softmax_xent_f32", "softmax_xent_grad_f32"};

static void die(const char *msg)
{
	fprintf(stderr, "kernelhost: %s\n", msg);
	exit(2);
}

static int64_t rd(void)
{
	int64_t v;
	if (fread(&v, sizeof v, 1, stdin) != 1)
		die("short input");
	return v;
}

typedef std::vector<int64_t> Args;
static void *P(const Args &a, int i) { return (void *)(intptr_t)a[i]; }

struct Kernel {
	int nargs;
	std::function<void(const Args &)> call;
};

static std::map<std::string, Kernel> kernels = {
	{"gather_pixels", {5, [](const Args &a) { gather_pixels(a[0], a[1], (float *)P(a, 2), (const unsigned char *)P(a, 3), (const int *)P(a, 4)); }}},
	{"gather_labels", {5, [](const Args &a) { gather_labels(a[0], a[1], (float *)P(a, 2), (const unsigned char *)P(a, 3), (const int *)P(a, 4)); }}},
	{"unary_f32", {4, [](const Args &a) { unary_f32(a[0], a[1], (float *)P(a, 2), (const float *)P(a, 3)); }}},
	{"binary_f32", {7, [](const Args &a) { binary_f32(a[0], a[1], (float *)P(a, 2), (const float *)P(a, 3), a[4], (const float *)P(a, 5), a[6]); }}},
	{"repeat_f32", {6, [](const Args &a) { repeat_f32(a[0], a[1], a[2], a[3], (float *)P(a, 4), (const float *)P(a, 5)); }}},
	{"reduce_f32", {6, [](const Args &a) { reduce_f32(a[0], a[1], a[2], a[3], (float *)P(a, 4), (const float *)P(a, 5)); }}},
	{"sgd_f32", {4, [](const Args &a) { sgd_f32(a[0], (float *)P(a, 1), (const float *)P(a, 2), (const float *)P(a, 3)); }}},
	{"update_f32", {7, [](const Args &a) { update_f32(a[0], a[1], a[2], (float *)P(a, 3), (const float *)P(a, 4), (float *)P(a, 5), (const float *)P(a, 6)); }}},
	{"standardize_f32", {6, [](const Args &a) { standardize_f32(a[0], a[1], (float *)P(a, 2), (const int *)P(a, 3), (const float *)P(a, 4), (const float *)P(a, 5)); }}},
	{"smooth_labels", {5, [](const Args &a) { smooth_labels(a[0], a[1], (float *)P(a, 2), (const int *)P(a, 3), (const float *)P(a, 4)); }}},
	{"bias_add_f32", {5, [](const Args &a) { bias_add_f32(a[0], a[1], (float *)P(a, 2), (const float *)P(a, 3), (const float *)P(a, 4)); }}},
	{"softmax_xent_f32", {5, [](const Args &a) { softmax_xent_f32(a[0], a[1], (float *)P(a, 2), (const float *)P(a, 3), (const float *)P(a, 4)); }}},
	{"softmax_xent_grad_f32", {6, [](const Args &a) { softmax_xent_grad_f32(a[0], a[1], (float *)P(a, 2), (const float *)P(a, 3), (const float *)P(a, 4), (const float *)P(a, 5)); }}},
#ifdef KERNELHOST_SELFTEST
	{"selftest_read_f32", {3, [](const Args &a) { selftest_read_f32(a[0], (float *)P(a, 1), (const float *)P(a, 2)); }}},
	{"selftest_write_f32", {2, [](const Args &a) { selftest_write_f32(a[0], (float *)P(a, 1)); }}},
#endif
};

// guarded returns room for n bytes in a mapping of its own, between two
// PROT_NONE pages: ending exactly at the page after it, or, at_start,
// beginning exactly after the page before it. For n = 0 it returns the
// start of a guard page.
static unsigned char *guarded(int64_t n, bool at_start)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = ((size_t)n + page - 1) / page * page;
	void *m = mmap(NULL, data + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die("mmap failed");
	unsigned char *first = (unsigned char *)m + page;
	if (data && mprotect(first, data, PROT_READ | PROT_WRITE) != 0)
		die("mprotect failed");
	return at_start ? first : first + data - n;
}

#ifdef KERNELHOST_SELFTEST
// on_fault writes the faulting address to stderr, then dies of the signal.
static void on_fault(int sig, siginfo_t *si, void *)
{
	char msg[64] = "kernelhost: fault at 0x";
	size_t len = strlen(msg);
	uintptr_t a = (uintptr_t)si->si_addr;
	int digits = 1;
	while (digits < (int)(2 * sizeof a) && (a >> (4 * digits)) != 0)
		digits++;
	for (int d = digits - 1; d >= 0; d--)
		msg[len++] = "0123456789abcdef"[(a >> (4 * d)) & 15];
	msg[len++] = '\n';
	if (write(2, msg, len) < 0) {
	}
	signal(sig, SIG_DFL);
	raise(sig);
}
#endif

// sgemm is cuBLAS's column-major C = op(A)·op(B) (alpha 1, beta 0), each
// element accumulated over k in order.
static void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
	const float *B, int64_t ldb, float *C, int64_t ldc)
{
	for (int64_t j = 0; j < n; j++)
		for (int64_t i = 0; i < m; i++) {
			float acc = 0.0f;
			for (int64_t l = 0; l < k; l++) {
				float a = ta ? A[l + i * lda] : A[i + l * lda];
				float b = tb ? B[j + l * ldb] : B[l + j * ldb];
				acc += a * b;
			}
			C[i + j * ldc] = acc;
		}
}

int main(int argc, char **argv)
{
	bool at_start = argc > 1 && strcmp(argv[1], "start") == 0;
	if (argc > 2 || (argc == 2 && !at_start && strcmp(argv[1], "end") != 0))
		die("usage: kernelhost [end|start] <input >output");
#ifdef KERNELHOST_SELFTEST
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
#endif
	char magic[8];
	if (fread(magic, 1, 8, stdin) != 8 || memcmp(magic, "SMXKRN01", 8) != 0)
		die("bad magic");
	int64_t nbuf = rd();
	// Separate mappings with guard pages, so that a kernel reading or
	// writing past the end (or, at_start, before the start) of a buffer
	// faults.
	std::vector<unsigned char *> bufs(nbuf);
	std::vector<int64_t> bytes(nbuf);
	for (int64_t i = 0; i < nbuf; i++) {
		int64_t dtype = rd(), count = rd();
		int64_t size = dtype == 2 ? 1 : 4;
		bytes[i] = count * size;
		bufs[i] = guarded(bytes[i], at_start);
		if (bytes[i] && fread(bufs[i], 1, bytes[i], stdin) != (size_t)bytes[i])
			die("short buffer");
#ifdef KERNELHOST_SELFTEST
		fprintf(stderr, "kernelhost: buffer %lld at 0x%llx, %lld bytes\n", (long long)i,
			(unsigned long long)(uintptr_t)bufs[i], (long long)bytes[i]);
#endif
	}
	auto buf = [&](int64_t id) -> void * {
		if (id < 0 || id >= nbuf)
			die("buffer index out of range");
		return bufs[id];
	};
	int64_t nlaunch = rd();
	for (int64_t li = 0; li < nlaunch; li++) {
		int64_t type = rd();
		if (type == 1) {
			int64_t ta = rd(), tb = rd(), m = rd(), n = rd(), k = rd();
			int64_t A = rd(), lda = rd(), B = rd(), ldb = rd(), C = rd(), ldc = rd();
			sgemm(ta, tb, m, n, k, (const float *)buf(A), lda, (const float *)buf(B), ldb, (float *)buf(C), ldc);
			continue;
		}
		int64_t len = rd();
		std::string name(len, '\0');
		if (fread(&name[0], 1, len, stdin) != (size_t)len)
			die("short name");
		int64_t grid = rd(), block = rd(), nargs = rd();
		Args args(nargs);
		for (int64_t j = 0; j < nargs; j++) {
			int64_t tag = rd(), v = rd();
			args[j] = tag == 0 ? (int64_t)(intptr_t)buf(v) : v;
		}
		auto it = kernels.find(name);
		if (it == kernels.end())
			die(("unknown kernel " + name).c_str());
		if (it->second.nargs != nargs)
			die(("wrong argument count for " + name).c_str());
		gridDim = {(unsigned)grid, 1, 1};
		blockDim = {(unsigned)block, 1, 1};
		bool coop = cooperative.count(name) > 0;
		for (int64_t b = 0; b < grid; b++) {
			if (!coop) {
				for (int64_t t = 0; t < block; t++) {
					blockIdx = {(unsigned)b, 0, 0};
					threadIdx = {(unsigned)t, 0, 0};
					it->second.call(args);
				}
				continue;
			}
			block_barrier.n = (unsigned)block;
			std::vector<std::thread> threads;
			for (int64_t t = 0; t < block; t++)
				threads.emplace_back([&, b, t] {
					blockIdx = {(unsigned)b, 0, 0};
					threadIdx = {(unsigned)t, 0, 0};
					it->second.call(args);
				});
			for (auto &th : threads)
				th.join();
		}
	}
	for (int64_t i = 0; i < nbuf; i++)
		if (bytes[i] && fwrite(bufs[i], 1, bytes[i], stdout) != (size_t)bytes[i])
			die("short write");
	return 0;
}
