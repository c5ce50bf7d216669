#!/usr/bin/python3
"""The best-known linear baseline on Fashion-MNIST, for the README's table:
scikit-learn's multinomial LogisticRegression (L-BFGS) on standardised
pixels, trained on the 60,000 training images and scored on the 10,000 test
images. Prints one JSON object.

    /usr/bin/python3 bench/peers/sklearn_logreg.py ./fashion-mnist

Needs numpy and scikit-learn (Debian: python3-sklearn).
"""
import json
import sys
import time

from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from common import load_arrays


def main():
    xtr, ytr, xte, yte = load_arrays(sys.argv[1] if len(sys.argv) > 1 else ".")
    start = time.time()
    sc = StandardScaler().fit(xtr)
    clf = LogisticRegression(max_iter=1000).fit(sc.transform(xtr), ytr)
    acc = float((clf.predict(sc.transform(xte)) == yte).mean())
    print(json.dumps({"test_acc": acc, "seconds": time.time() - start, "iterations": int(clf.n_iter_[0])}))


if __name__ == "__main__":
    main()
