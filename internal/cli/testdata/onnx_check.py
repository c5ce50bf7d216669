"""Check a file of `softmaxctl export-onnx` with the onnx library.

Usage: python3 onnx_check.py MODEL.onnx CASES.json

CASES.json holds what the Go test expects: {"shape": [C, H, W], "classes":
[...], "dataset": "...", "inputs": [[C*H*W floats], ...], "probs": [[one per
class], ...]}, the probabilities being predict's for those inputs.

The script runs onnx.checker.check_model(full_check=True), which includes
strict shape inference, then evaluates the graph's nodes one by one with
NumPy in float32 (onnx 1.12, Debian bookworm's, has no reference evaluator)
and compares the output with predict's probabilities. Only the operators
export-onnx writes are implemented, with the semantics of opset 13; any
other operator, attribute or opset is a failure, not a guess.
It prints one line and exits 0 when everything agrees within 1e-4, else it
prints what differs and exits 1.
"""

import json
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

TOLERANCE = 1e-4
OPSET = 13


def flatten(x, axis=1):
    if axis < 0:
        axis += x.ndim
    lead = int(np.prod(x.shape[:axis], dtype=np.int64))
    return x.reshape(lead, -1)


def gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    if transA:
        a = a.T
    if transB:
        b = b.T
    y = np.float32(alpha) * (a @ b)
    if c is not None:
        y = y + np.float32(beta) * c
    return y


def softmax(x, axis=-1):
    # Opset 13: over the one axis given.
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


OPS = {"Flatten": flatten, "Gemm": gemm, "Softmax": softmax}
ATTRS = {
    "Flatten": {"axis"},
    "Gemm": {"alpha", "beta", "transA", "transB"},
    "Softmax": {"axis"},
}


def fail(msg):
    print("onnx_check: " + msg, file=sys.stderr)
    sys.exit(1)


def evaluate(graph, x):
    env = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    env[graph.input[0].name] = x
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            fail(f"node {node.name}: domain {node.domain!r} is not ONNX's")
        op = OPS.get(node.op_type)
        if op is None:
            fail(f"node {node.name}: operator {node.op_type} is not one this check evaluates")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        unknown = set(attrs) - ATTRS[node.op_type]
        if unknown:
            fail(f"node {node.name}: unexpected attributes {sorted(unknown)}")
        args = []
        for name in node.input:
            if name not in env:
                fail(f"node {node.name}: input {name!r} is not computed before it")
            args.append(env[name])
        if len(node.output) != 1:
            fail(f"node {node.name}: {len(node.output)} outputs, want 1")
        env[node.output[0]] = op(*args, **attrs)
    return env[graph.output[0].name]


def main():
    if len(sys.argv) != 3:
        fail("usage: onnx_check.py MODEL.onnx CASES.json")
    model = onnx.load(sys.argv[1])
    with open(sys.argv[2]) as f:
        cases = json.load(f)

    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # the checker's errors have several types
        fail(f"check_model(full_check=True) refused the model: {e}")

    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets != {"": OPSET}:
        fail(f"opset_import is {opsets}, want {{'': {OPSET}}}")

    meta = {p.key: p.value for p in model.metadata_props}
    if json.loads(meta.get("classes", "null")) != cases["classes"]:
        fail(f"metadata classes {meta.get('classes')!r}, want {cases['classes']!r}")
    if meta.get("dataset") != cases["dataset"]:
        fail(f"metadata dataset {meta.get('dataset')!r}, want {cases['dataset']!r}")

    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        fail(f"graph has {len(graph.input)} inputs and {len(graph.output)} outputs, want 1 and 1")
    tt = graph.input[0].type.tensor_type
    if tt.elem_type != onnx.TensorProto.FLOAT:
        fail(f"input type {onnx.TensorProto.DataType.Name(tt.elem_type)}, want FLOAT")
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tt.shape.dim]
    if len(dims) != 4 or not isinstance(dims[0], str) or dims[1:] != cases["shape"]:
        fail(f"input shape {dims}, want [N] + {cases['shape']}")

    x = np.asarray(cases["inputs"], dtype=np.float32).reshape([-1] + cases["shape"])
    want = np.asarray(cases["probs"], dtype=np.float64)
    got = evaluate(graph, x)
    if got.dtype != np.float32:
        fail(f"output dtype {got.dtype}, want float32")
    if got.shape != want.shape:
        fail(f"output shape {got.shape}, want {want.shape}")
    diff = np.abs(got.astype(np.float64) - want)
    worst = float(diff.max())
    if not worst <= TOLERANCE:
        i, j = np.unravel_index(int(np.nanargmax(diff)), diff.shape)
        fail(f"probabilities differ from predict's by {worst:.3g} > {TOLERANCE} "
             f"(input {i}, class {j}: onnx {got[i, j]:.6f}, predict {want[i, j]:.6f})")
    print(f"ok: onnx {onnx.__version__} check_model(full_check=True) passed; "
          f"{len(x)} inputs, max |onnx - predict| = {worst:.3g}")


if __name__ == "__main__":
    main()
