"""Softmax regression on Fashion-MNIST in plain NumPy: the recipe of
`softmaxctl train` (W ~ N(0, 0.01), b = 0, SGD with learning rate 0.1,
batches of 256 shuffled every epoch, pixels / 255, test accuracy after every
epoch), written as a NumPy user would, for bench/compare. It prints the
BLAS NumPy uses on stderr and one JSON line like softmaxctl's summary on
stdout.

    python3 bench/peers/numpy_softmax.py --data DIR [--epochs 10] [--seed 0]
"""

import sys
import time

import numpy as np

from common import blas_library, load_arrays, recipe_args, summary


def main():
    args = recipe_args()
    x, y, tx, ty = load_arrays(args.data)
    n, dim = x.shape
    classes = 10

    rng = np.random.default_rng(args.seed)
    w = (rng.standard_normal((dim, classes)) * 0.01).astype(np.float32)
    b = np.zeros(classes, dtype=np.float32)
    lr = np.float32(args.lr)
    eye = np.eye(classes, dtype=np.float32)

    # One product first, so the BLAS is loaded when it is named.
    x[:2] @ w
    print("numpy %s, BLAS: %s" % (np.__version__, blas_library()), file=sys.stderr)

    start = time.perf_counter()
    acc = 0.0
    for _ in range(args.epochs):
        order = rng.permutation(n)
        for lo in range(0, n, args.batch_size):
            idx = order[lo : lo + args.batch_size]
            xb, yb = x[idx], eye[y[idx]]
            logits = xb @ w + b
            z = logits - logits.max(axis=1, keepdims=True)
            e = np.exp(z)
            p = e / e.sum(axis=1, keepdims=True)
            g = (p - yb) / np.float32(len(idx))
            w -= lr * (xb.T @ g)
            b -= lr * g.sum(axis=0)
        acc = float(((tx @ w + b).argmax(axis=1) == ty).mean())
    train_seconds = time.perf_counter() - start
    summary(train_seconds, acc, library="numpy " + np.__version__, blas=blas_library())


if __name__ == "__main__":
    main()
