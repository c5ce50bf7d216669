"""Softmax regression on Fashion-MNIST in PyTorch (CPU, its default
threads): the recipe of `softmaxctl train` (W ~ N(0, 0.01), b = 0, SGD with
learning rate 0.1, batches of 256 shuffled every epoch, pixels / 255, test
accuracy after every epoch), with autograd and torch.optim.SGD as a PyTorch
user would write it, for bench/compare. It prints the threads and BLAS on
stderr and one JSON line like softmaxctl's summary on stdout.

    python3 bench/peers/torch_softmax.py --data DIR [--epochs 10] [--seed 0]
"""

import sys
import time

import torch

from common import blas_library, load_arrays, recipe_args, summary


def main():
    args = recipe_args()
    x, y, tx, ty = load_arrays(args.data)
    n, dim = x.shape
    x, y, tx, ty = (torch.from_numpy(a) for a in (x, y, tx, ty))
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
