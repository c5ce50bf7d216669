/*
 * cuda.h for building gorgonia.org/cu v0.9.6 against CUDA 13 headers.
 *
 * gorgonia.org/cu was written against CUDA <= 12. CUDA 13's cuda.h maps
 * these driver API names, by macro, to new entry points with new
 * signatures, so cu's calls no longer compile:
 *
 *   cuCtxCreate                   -> cuCtxCreate_v4 (adds CUctxCreateParams *)
 *   cuMemAdvise                   -> cuMemAdvise_v2 (CUmemLocation, not CUdevice)
 *   cuMemPrefetchAsync            -> cuMemPrefetchAsync_v2 (CUmemLocation, flags)
 *   cuGraphAddDependencies        -> cuGraphAddDependencies_v2 (adds edge data)
 *   cuGraphGetEdges               -> cuGraphGetEdges_v2 (adds edge data)
 *   cuGraphNodeGetDependencies    -> cuGraphNodeGetDependencies_v2 (adds edge data)
 *   cuGraphNodeGetDependentNodes  -> cuGraphNodeGetDependentNodes_v2 (adds edge data)
 *   cuGraphRemoveDependencies     -> cuGraphRemoveDependencies_v2 (adds edge data)
 *
 * The CUDA 13 driver still exports the old entry points (cuCtxCreate_v2,
 * cuMemAdvise, cuMemPrefetchAsync, cuGraphAddDependencies, ...). This
 * header, found before the toolkit's on the include path
 * (CGO_CFLAGS=-I<this directory>, never -include: CGO_CFLAGS reaches every
 * cgo package), includes the real cuda.h and then, for CUDA 13 and later,
 * undefines those macros and declares the old signatures, so the names
 * resolve to the old entry points: cuCtxCreate to cuCtxCreate_v2, the
 * others to their unsuffixed symbols. With CUDA 12 headers it changes
 * nothing.
 */
#ifndef SOFTMAXCTL_CUDACOMPAT_CUDA_H
#define SOFTMAXCTL_CUDACOMPAT_CUDA_H

#include_next <cuda.h>

#if defined(CUDA_VERSION) && CUDA_VERSION >= 13000

#ifdef __cplusplus
extern "C" {
#endif

#undef cuCtxCreate
#define cuCtxCreate cuCtxCreate_v2
CUresult CUDAAPI cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);

#undef cuMemAdvise
CUresult CUDAAPI cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device);

#undef cuMemPrefetchAsync
#if defined(CUDA_API_PER_THREAD_DEFAULT_STREAM)
#define cuMemPrefetchAsync cuMemPrefetchAsync_ptsz
#endif
CUresult CUDAAPI cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream);

#undef cuGraphAddDependencies
CUresult CUDAAPI cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
	size_t numDependencies);

#undef cuGraphGetEdges
CUresult CUDAAPI cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *numEdges);

#undef cuGraphNodeGetDependencies
CUresult CUDAAPI cuGraphNodeGetDependencies(CUgraphNode hNode, CUgraphNode *dependencies,
	size_t *numDependencies);

#undef cuGraphNodeGetDependentNodes
CUresult CUDAAPI cuGraphNodeGetDependentNodes(CUgraphNode hNode, CUgraphNode *dependentNodes,
	size_t *numDependentNodes);

#undef cuGraphRemoveDependencies
CUresult CUDAAPI cuGraphRemoveDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
	size_t numDependencies);

#ifdef __cplusplus
}
#endif

#endif /* CUDA_VERSION >= 13000 */

#endif /* SOFTMAXCTL_CUDACOMPAT_CUDA_H */
