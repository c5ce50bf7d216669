#!/usr/bin/python3
"""The best-known linear baseline on Fashion-MNIST, for the README's table:
scikit-learn's multinomial LogisticRegression (L-BFGS) on standardised
pixels, trained on the 60,000 training images and scored on the 10,000 test
images. Prints one JSON object.

    /usr/bin/python3 bench/linear/sklearn_logreg.py ./fashion-mnist

Needs numpy and scikit-learn (Debian: python3-sklearn).
"""
import gzip
import json
import os
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    xtr = idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(60000, -1) / 255.0
    ytr = idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    xte = idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).reshape(10000, -1) / 255.0
    yte = idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    start = time.time()
    sc = StandardScaler().fit(xtr)
    clf = LogisticRegression(max_iter=1000).fit(sc.transform(xtr), ytr)
    acc = float((clf.predict(sc.transform(xte)) == yte).mean())
    print(json.dumps({"test_acc": acc, "seconds": time.time() - start, "iterations": int(clf.n_iter_[0])}))


if __name__ == "__main__":
    main()
