#!/usr/bin/env python3
"""Writes a model-ready feature batch (.npz, OpenFold's processed names, one trailing
recycling slice) of random features for `fold predict --features`: the synthetic shapes
the long-sequence benchmarks use (no templates).

usage: synthetic_features.py OUT.npz --n-res N [--n-seq 128] [--n-extra 1024] [--seed 0]
"""
import argparse

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--n-res", type=int, required=True)
    p.add_argument("--n-seq", type=int, default=128)
    p.add_argument("--n-extra", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    n, s, e = a.n_res, a.n_seq, a.n_extra
    aatype = rng.integers(0, 20, size=(n, 1))
    target = np.zeros((n, 22, 1), np.float32)
    target[np.arange(n), aatype[:, 0] + 1, 0] = 1.0
    np.savez(a.out,
             aatype=aatype.astype(np.int64),
             target_feat=target,
             residue_index=np.arange(n, dtype=np.int64)[:, None],
             msa_feat=rng.random((s, n, 49, 1), dtype=np.float32),
             seq_mask=np.ones((n, 1), np.float32),
             msa_mask=np.ones((s, n, 1), np.float32),
             extra_msa=rng.integers(0, 23, size=(e, n, 1)).astype(np.int64),
             extra_has_deletion=np.zeros((e, n, 1), np.float32),
             extra_deletion_value=np.zeros((e, n, 1), np.float32),
             extra_msa_mask=np.ones((e, n, 1), np.float32))


if __name__ == "__main__":
    main()
