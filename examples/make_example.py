#!/usr/bin/python3
"""Make the bundled example: embeddings of one simulated exam.

Four nodules seen in 14 tracklets. Each tracklet's 128-d embedding is its
nodule's direction plus view-dependent noise, L2-normalised, the way a
re-identification model's output looks. Two of the nodules are close to
each other (similar appearance: the hard case the method addresses).

Writes embeddings.npy (float32, 14 x 128) and truth.txt (nodule per row).
Deterministic: run it again and the files are byte-identical.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rng = np.random.default_rng(20231107)
    d = 128
    centres = rng.normal(size=(4, d))
    centres[3] = centres[2] + 1.1 * rng.normal(size=d)  # look-alike nodule
    tracklets_per_nodule = [5, 3, 4, 2]
    rows, truth = [], []
    for k, count in enumerate(tracklets_per_nodule):
        for _ in range(count):
            rows.append(centres[k] + 0.55 * rng.normal(size=d))
            truth.append(k)
    order = rng.permutation(len(rows))  # tracklets arrive in scan order
    x = np.array(rows, dtype=np.float64)[order]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.save(os.path.join(HERE, "embeddings.npy"), x.astype(np.float32))
    with open(os.path.join(HERE, "truth.txt"), "w") as f:
        f.write("# true nodule of each tracklet (row of embeddings.npy)\n")
        for i in order:
            f.write(f"{truth[i]}\n")


if __name__ == "__main__":
    main()
