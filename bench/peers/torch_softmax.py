"""Softmax regression on Fashion-MNIST in PyTorch (CPU with its default
threads, or a CUDA GPU with --device cuda): the recipe of `softmaxctl train` (W ~ N(0, 0.01), b = 0, SGD with
learning rate 0.1, batches of 256 shuffled every epoch, pixels / 255, test
accuracy after every epoch), with autograd and torch.optim.SGD as a PyTorch
user would write it, for bench/compare. It prints the threads and BLAS on
stderr and one JSON line like softmaxctl's summary on stdout.

    python3 bench/peers/torch_softmax.py --data DIR [--epochs 10] [--seed 0] [--device cpu|cuda]

On a GPU the whole dataset is moved there first, as softmaxctl does, and
the timed loop ends with a synchronisation.
"""

import sys
import time

import torch

from common import blas_library, load_arrays, recipe_args, summary


def main():
    args = recipe_args(lambda ap: ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"]))
    dev = torch.device(args.device)
    x, y, tx, ty = load_arrays(args.data)
    n, dim = x.shape
    x, y, tx, ty = (torch.from_numpy(a).to(dev) for a in (x, y, tx, ty))
    classes = 10

    gen = torch.Generator(device=dev).manual_seed(args.seed)
    w = (torch.randn(dim, classes, generator=gen, device=dev) * 0.01).requires_grad_()
    b = torch.zeros(classes, requires_grad=True, device=dev)
    opt = torch.optim.SGD([w, b], lr=args.lr)
    x[:2] @ w
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    where = torch.cuda.get_device_name() if dev.type == "cuda" else "%d threads" % torch.get_num_threads()
    print("torch %s, %s, BLAS: %s" % (torch.__version__, where, blas_library()), file=sys.stderr)

    start = time.perf_counter()
    acc = 0.0
    for _ in range(args.epochs):
        order = torch.randperm(n, generator=gen, device=dev)
        for lo in range(0, n, args.batch_size):
            idx = order[lo : lo + args.batch_size]
            loss = torch.nn.functional.cross_entropy(x[idx] @ w + b, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = float(((tx @ w + b).argmax(dim=1) == ty).float().mean())
    sync()
    train_seconds = time.perf_counter() - start
    if dev.type == "cuda":
        library = "torch %s, %s" % (torch.__version__, where)
    else:
        library = "torch %s, %d thread%s" % (torch.__version__, torch.get_num_threads(), "" if torch.get_num_threads() == 1 else "s")
    summary(train_seconds, acc, library=library, blas=blas_library())


if __name__ == "__main__":
    main()
