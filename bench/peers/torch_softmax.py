"""Softmax regression on Fashion-MNIST in PyTorch (CPU, its default
threads): the recipe of `softmaxctl train` (W ~ N(0, 0.01), b = 0, SGD with
learning rate 0.1, batches of 256 shuffled every epoch, pixels / 255, test
accuracy after every epoch), with autograd and torch.optim.SGD as a PyTorch
user would write it, for bench/compare. It prints the threads and BLAS on
stderr and one JSON line like softmaxctl's summary on stdout.

    python3 bench/peers/torch_softmax.py --data DIR [--epochs 10] [--seed 0]
"""

import argparse
import sys
import time

import numpy as np
import torch

from common import blas_library, load_split, summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    pix, lab, n, dim = load_split(args.data, "train")
    tpix, tlab, tn, _ = load_split(args.data, "test")
    x = torch.from_numpy(np.frombuffer(pix, dtype=np.uint8).reshape(n, dim).astype(np.float32) / 255)
    y = torch.from_numpy(np.frombuffer(lab, dtype=np.uint8).astype(np.int64))
    tx = torch.from_numpy(np.frombuffer(tpix, dtype=np.uint8).reshape(tn, dim).astype(np.float32) / 255)
    ty = torch.from_numpy(np.frombuffer(tlab, dtype=np.uint8).astype(np.int64))
    classes = 10

    gen = torch.Generator().manual_seed(args.seed)
    w = (torch.randn(dim, classes, generator=gen) * 0.01).requires_grad_()
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=args.lr)
    x[:2] @ w
    print("torch %s, %d threads, BLAS: %s" % (torch.__version__, torch.get_num_threads(), blas_library()), file=sys.stderr)

    start = time.perf_counter()
    acc = 0.0
    for _ in range(args.epochs):
        order = torch.randperm(n, generator=gen)
        for lo in range(0, n, args.batch_size):
            idx = order[lo : lo + args.batch_size]
            loss = torch.nn.functional.cross_entropy(x[idx] @ w + b, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = float(((tx @ w + b).argmax(dim=1) == ty).float().mean())
    train_seconds = time.perf_counter() - start
    summary(train_seconds, acc, library="torch %s, %d thread%s" % (torch.__version__, torch.get_num_threads(), "" if torch.get_num_threads() == 1 else "s"), blas=blas_library())


if __name__ == "__main__":
    main()
