/* The calls of gorgonia.org/cu v0.9.6 that CUDA 13 broke, with the old
 * signatures, for TestCUDACompatHeader. */
#include <cuda.h>

CUresult old_calls(void)
{
	CUcontext ctx;
	CUgraph g = 0;
	CUgraphNode n[2] = {0, 0};
	CUstream s = 0;
	size_t k = 0;
	CUresult r = cuCtxCreate(&ctx, 0, 0);
	r |= cuMemAdvise(0, 16, 1, 0);
	r |= cuMemPrefetchAsync(0, 16, 0, s);
	r |= cuGraphAddDependencies(g, n, n + 1, 1);
	r |= cuGraphGetEdges(g, n, n + 1, &k);
	r |= cuGraphNodeGetDependencies(n[0], n, &k);
	r |= cuGraphNodeGetDependentNodes(n[0], n, &k);
	r |= cuGraphRemoveDependencies(g, n, n + 1, 1);
	return r;
}
