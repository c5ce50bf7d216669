// Kernels of softmaxctl's device programs (internal/device).
//
// The CUDA executor compiles this file with NVRTC at start-up, so it uses no
// headers: NVRTC provides the built-ins (blockIdx, expf, logf). Each kernel
// mirrors one step kind of internal/device/semantics.go. Most compute one
// element of the step's output per thread, with no shared memory, atomics
// or synchronisation, in the same order as on the CPU; the two of the
// softmax cross-entropy reduce across a block (a test compiles this file
// for the host, runs those blocks' threads concurrently, and compares).
//
// Every parameter is 8 bytes wide (a pointer or a long long) because
// gorgonia.org/cu's Function.Launch copies 8 bytes per argument.

// The functions of unary, binary and reduce steps: the values of device.Fn
// (internal/device/program.go; a test checks they agree).
#define OP_NEG 1
#define OP_EXP 2
#define OP_LN 3
#define OP_ADD 4
#define OP_SUB 5
#define OP_MUL 6
#define OP_DIV 7
#define OP_EQ 8
#define OP_SUM 9
#define OP_MAX 10

// thread_index returns the index of the calling thread in the grid.
__device__ __forceinline__ long long thread_index(void)
{
	return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

// gather_pixels writes x[r][j] = pix[idx[r]][j] / 255 for n = rows*width
// elements, or 0 for a padding row (idx[r] == -1). As float32(p)/255 in Go:
// a correctly rounded division (NVRTC's default, -prec-div=true).
extern "C" __global__ void gather_pixels(long long n, long long width, float *x,
	const unsigned char *pix, const int *idx)
{
	long long t = thread_index();
	if (t >= n)
		return;
	long long r = t / width, j = t % width;
	int i = idx[r];
	x[t] = i < 0 ? 0.0f : (float)pix[(long long)i * width + j] / 255.0f;
}

// gather_labels writes the one-hot row of labels[idx[r]] into y, n =
// rows*classes elements, or a zero row for padding.
extern "C" __global__ void gather_labels(long long n, long long classes, float *y,
	const unsigned char *labels, const int *idx)
{
	long long t = thread_index();
	if (t >= n)
		return;
	long long r = t / classes, j = t % classes;
	int i = idx[r];
	y[t] = (i >= 0 && (long long)labels[i] == j) ? 1.0f : 0.0f;
}

// unary_f32 is out[t] = op(a[t]).
extern "C" __global__ void unary_f32(long long op, long long n, float *out, const float *a)
{
	long long t = thread_index();
	if (t >= n)
		return;
	float x = a[t], z = 0.0f;
	switch (op) {
	case OP_NEG:
		z = -x;
		break;
	case OP_EXP:
		z = expf(x);
		break;
	case OP_LN:
		z = logf(x);
		break;
	}
	out[t] = z;
}

// binary_f32 is out[t] = a[t] op b[t]; an operand whose flag is set is a
// scalar, read at index 0.
extern "C" __global__ void binary_f32(long long op, long long n, float *out,
	const float *a, long long a_scalar, const float *b, long long b_scalar)
{
	long long t = thread_index();
	if (t >= n)
		return;
	float x = a[a_scalar ? 0 : t], y = b[b_scalar ? 0 : t], z = 0.0f;
	switch (op) {
	case OP_ADD:
		z = x + y;
		break;
	case OP_SUB:
		z = x - y;
		break;
	case OP_MUL:
		z = x * y;
		break;
	case OP_DIV:
		z = x / y;
		break;
	case OP_EQ:
		z = x == y ? 1.0f : 0.0f;
		break;
	}
	out[t] = z;
}

// repeat_f32 writes out, outer×(len·reps)×inner with n elements, from in,
// outer×len×inner: each element along the middle axis repeated reps times.
extern "C" __global__ void repeat_f32(long long n, long long len, long long reps,
	long long inner, float *out, const float *in)
{
	long long t = thread_index();
	if (t >= n)
		return;
	long long i = t % inner, j = (t / inner) % (len * reps), o = t / (inner * len * reps);
	out[t] = in[(o * len + j / reps) * inner + i];
}

// reduce_f32 reduces the middle axis of in, outer×len×inner, into out,
// outer×inner with n elements: one thread per output, in index order, so
// a sum is the CPU's sum to the bit.
extern "C" __global__ void reduce_f32(long long op, long long n, long long len,
	long long inner, float *out, const float *in)
{
	long long t = thread_index();
	if (t >= n)
		return;
	long long o = t / inner, i = t % inner;
	const float *p = in + o * len * inner + i;
	float acc = p[0];
	for (long long a = 1; a < len; a++) {
		float x = p[a * inner];
		if (op == OP_MAX) {
			if (x > acc)
				acc = x;
		} else {
			acc += x;
		}
	}
	out[t] = acc;
}

// sgd_f32 is p[t] -= lr[0] * g[t]. The learning rate is read from device
// memory so that the host sets it with a copy, not a kernel argument.
extern "C" __global__ void sgd_f32(long long n, float *p, const float *g, const float *lr)
{
	long long t = thread_index();
	if (t >= n)
		return;
	float step = lr[0] * g[t];
	p[t] -= step;
}

// update_f32 is the optimiser's update (device.StepUpdate, train.Optimizer)
// of the parameter p from its gradient g, with the velocity v, which it
// updates too, and h = [lr, weight decay, momentum] read from device memory
// (the schedule changes lr every step: one copy, no recompiled argument).
// The decay applies when decay is set (W, not b). With momentum 0 it is
// p -= lr·(g + decay·p) and v is not touched, as on the host. Compiled
// without FMA contraction, every product is rounded as the CPU rounds it.
extern "C" __global__ void update_f32(long long n, long long decay, long long nesterov,
	float *p, const float *g, float *v, const float *h)
{
	long long t = thread_index();
	if (t >= n)
		return;
	float lr = h[0], wd = decay ? h[1] : 0.0f, mu = h[2];
	float gi = g[t] + wd * p[t];
	if (mu == 0.0f) {
		p[t] -= lr * gi;
		return;
	}
	float vi = mu * v[t] + gi;
	v[t] = vi;
	p[t] -= nesterov ? lr * (gi + mu * vi) : lr * vi;
}

// standardize_f32 standardises the gathered pixels x in place, n =
// rows*width elements: (x − mean[j])/std[j] in the rows whose index is not
// -1 (padding rows stay zero), as model.Standardizer.Apply.
extern "C" __global__ void standardize_f32(long long n, long long width, float *x,
	const int *idx, const float *mean, const float *std)
{
	long long t = thread_index();
	if (t >= n)
		return;
	long long r = t / width, j = t % width;
	if (idx[r] < 0)
		return;
	x[t] = (x[t] - mean[j]) / std[j];
}

// smooth_labels smooths the gathered one-hot labels y in place, n =
// rows*classes elements: coef[0]·y + coef[1] with coef = [1−ε, ε/classes]
// in the rows whose index is not -1, as train's label smoothing.
extern "C" __global__ void smooth_labels(long long n, long long classes, float *y,
	const int *idx, const float *coef)
{
	long long t = thread_index();
	if (t >= n)
		return;
	if (idx[t / classes] < 0)
		return;
	y[t] = coef[0] * y[t] + coef[1];
}

// bias_add_f32 is out[t] = a[t] + b[t % len]: the vector b added to each
// row of a (n elements in rows of len).
extern "C" __global__ void bias_add_f32(long long n, long long len, float *out,
	const float *a, const float *b)
{
	long long t = thread_index();
	if (t >= n)
		return;
	out[t] = a[t] + b[t % len];
}

// XENT_THREADS is the block size of the two kernels below, a power of two
// (launch.go's xentThreads; a test checks they agree). They reduce across
// the block through shared memory in a fixed tree, so their sums do not
// depend on the order the threads run in.
#define XENT_THREADS 256

// block_sum_f64 returns to every thread of the block the sum of the v of
// all XENT_THREADS threads, added pairwise in a fixed tree; part is the
// block's shared scratch. Every thread of the block must call it.
__device__ __forceinline__ double block_sum_f64(double v, double *part)
{
	unsigned int tid = threadIdx.x;
	part[tid] = v;
	__syncthreads();
	for (unsigned int h = XENT_THREADS / 2; h > 0; h >>= 1) {
		if (tid < h)
			part[tid] += part[tid + h];
		__syncthreads();
	}
	double sum = part[0];
	__syncthreads(); // part is free again
	return sum;
}

// softmax_xent_f32 writes into out[0] the mean softmax cross-entropy of the
// rows×k logits o against the labels y, as model.SoftmaxXent computes it:
// each row shifted by its maximum, float sums along a row as on the CPU,
// then the rows' picked logits, label counts and label·log(row sum) added
// in double. One block of XENT_THREADS threads, each taking every
// XENT_THREADS-th row, then a tree across the block: the loss is one
// number, and at the batch sizes of training a block has a row or a few
// per thread. The CPU adds the rows in order (and, for one-hot rows, takes
// one logarithm of a product of sums), so the double sums differ from its
// by reordering alone: relative 2^-45 for 256 rows, far below the float
// result's rounding, which they change by at most one ulp.
extern "C" __global__ void softmax_xent_f32(long long rows, long long k, float *out,
	const float *o, const float *y)
{
	__shared__ double part[XENT_THREADS];
	double total = 0.0, count = 0.0, logs = 0.0;
	for (long long r = threadIdx.x; r < rows; r += XENT_THREADS) {
		const float *row = o + r * k, *yr = y + r * k;
		float m = row[0];
		for (long long j = 1; j < k; j++)
			if (row[j] > m)
				m = row[j];
		float s = 0.0f, picked = 0.0f, labels = 0.0f;
		for (long long j = 0; j < k; j++) {
			float z = row[j] - m;
			s += expf(z);
			picked += yr[j] * z;
			labels += yr[j];
		}
		total += (double)picked;
		count += (double)labels;
		if (labels != 0.0f)
			logs += (double)labels * log((double)s);
	}
	total = block_sum_f64(total, part);
	count = block_sum_f64(count, part);
	logs = block_sum_f64(logs, part);
	if (threadIdx.x == 0)
		out[0] = (float)(-(total - logs) / count);
}

// softmax_xent_grad_f32 writes the derivative of that loss with respect to
// the logits, g[0]·(softmax(o)·rowsum(y) − y)/sum(y), as
// model.SoftmaxRows and model.SoftmaxXentGrad: a thread per row, every
// block striding over the rows. Each block first sums all of y for the
// label count, in double across the block (exact for one-hot labels, and
// within an ulp of the CPU's float sum otherwise); the grid is at most
// launch.go's xentGradBlocks, so that count costs O(rows·k) in all.
extern "C" __global__ void softmax_xent_grad_f32(long long rows, long long k, float *d,
	const float *o, const float *y, const float *g)
{
	__shared__ double part[XENT_THREADS];
	double c = 0.0;
	for (long long i = threadIdx.x; i < rows * k; i += XENT_THREADS)
		c += (double)y[i];
	float count = (float)block_sum_f64(c, part);
	float scale = g[0] / count;
	for (long long r = (long long)blockIdx.x * XENT_THREADS + threadIdx.x; r < rows;
		r += (long long)gridDim.x * XENT_THREADS) {
		const float *row = o + r * k, *yr = y + r * k;
		float *dr = d + r * k;
		float m = row[0];
		for (long long j = 1; j < k; j++)
			if (row[j] > m)
				m = row[j];
		float s = 0.0f, labels = 0.0f;
		for (long long j = 0; j < k; j++) {
			float e = expf(row[j] - m);
			dr[j] = e;
			s += e;
			labels += yr[j];
		}
		float inv = 1.0f / s;
		for (long long j = 0; j < k; j++) {
			float p = dr[j] * inv;
			dr[j] = (p * labels - yr[j]) * scale;
		}
	}
}
