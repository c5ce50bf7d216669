"""Shared helpers of the peer benchmarks: reading Fashion-MNIST/MNIST from
the IDX files (gzipped or not), the JSON summary softmaxctl train --json
prints, and naming the BLAS library a process has loaded."""

import gzip
import json
import os
import struct
import sys
import time

START = time.perf_counter()

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _open(folder, name):
    for candidate in (name + ".gz", name):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            if candidate.endswith(".gz"):
                return gzip.open(path, "rb")
            return open(path, "rb")
    raise SystemExit("%s: no %s(.gz) in %s" % (sys.argv[0], name, folder))


def load_split(folder, split):
    """Returns (pixels as bytes, labels as bytes, n, rows*cols)."""
    images, labels = FILES[split]
    with _open(folder, images) as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise SystemExit("%s: %s is not an IDX image file" % (sys.argv[0], images))
        pix = f.read(n * rows * cols)
    with _open(folder, labels) as f:
        magic, m = struct.unpack(">II", f.read(8))
        if magic != 2049 or m != n:
            raise SystemExit("%s: %s does not match %s" % (sys.argv[0], labels, images))
        lab = f.read(n)
    return pix, lab, n, rows * cols


def recipe_args(extra=None):
    """Parses the flags every peer takes: the data folder and the recipe;
    extra(parser) adds a peer's own."""
    import argparse

    ap = argparse.ArgumentParser()
    if extra is not None:
        extra(ap)
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def load_arrays(folder):
    """Returns the training and test images as float32 rows scaled to
    [0, 1] and their labels as int64, NumPy arrays: (x, y, tx, ty)."""
    import numpy as np

    out = []
    for split in ("train", "test"):
        pix, lab, n, dim = load_split(folder, split)
        out.append(np.frombuffer(pix, dtype=np.uint8).reshape(n, dim).astype(np.float32) / 255)
        out.append(np.frombuffer(lab, dtype=np.uint8).astype(np.int64))
    return tuple(out)


def blas_library():
    """Names the BLAS shared library mapped into this process, following
    the Debian alternatives symlinks (libblas.so.3 may be the reference BLAS
    or OpenBLAS), with OpenBLAS's own configuration string when it is."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                base = os.path.basename(path)
                if "blas" in base or "mkl" in base or "blis" in base:
                    libs.add(os.path.realpath(path))
    except OSError:
        return "unknown"
    if not libs:
        return "none loaded"
    names = []
    for path in sorted(libs):
        name = path
        if "openblas" in path:
            try:
                import ctypes

                cfg = ctypes.CDLL(path).openblas_get_config
                cfg.restype = ctypes.c_char_p
                name = "OpenBLAS (%s)" % cfg().decode().strip()
            except (OSError, AttributeError):
                name = "OpenBLAS (%s)" % path
        elif "/blas/" in path or os.path.basename(path).startswith("libblas"):
            name = "reference BLAS (%s)" % path
        if name not in names:
            names.append(name)
    return "; ".join(names)


def summary(train_seconds, val_acc, **extra):
    """Prints the JSON summary line, with the fields softmaxctl train --json
    has: train_seconds (the training loop), total_seconds (since the
    interpreter started running this script) and val_acc."""
    out = {
        "val_acc": val_acc,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - START,
    }
    out.update(extra)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
