#!/usr/bin/python3
"""Independent numpy cross-check of the low-rank + sparse solver.

Generates layers with numpy, runs `test_solver --fit` on them and checks, in
float64: the reported relative output error equals ||(W-L-S)X|| / ||WX||
recomputed here; rank and sparsity budgets hold; with c = 0 the error is
within 0.5% of the optimum from numpy's SVD of W X; with c > 0 it beats that
rank-r optimum (S must help on weights with outliers).

usage: solver_ref.py TEST_SOLVER_BINARY WORK_DIR
"""
import os
import subprocess
import sys

import numpy as np


def run_case(exe, work, name, m, n, N, r, c, seed):
    rng = np.random.default_rng(seed)
    p = min(m, n)
    s = np.array([1.0 if j < 2 else 0.85 ** j for j in range(p)])
    A = rng.standard_normal((m, p)) / np.sqrt(m)
    B = rng.standard_normal((p, n)) / np.sqrt(n)
    W = (A * s) @ B
    spikes = rng.choice(m * n, size=m * n // 50, replace=False)
    W.flat[spikes] += rng.choice([-1.0, 1.0], size=spikes.size) * (0.5 + rng.random(spikes.size))
    M = np.eye(n) + rng.standard_normal((n, n)) / np.sqrt(n)
    X = np.maximum(M @ rng.standard_normal((n, N)) + 0.3, 0.0)  # correlated, non-negative
    W = W.astype(np.float32)
    X = X.astype(np.float32)
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    W.tofile(os.path.join(d, "W.bin"))
    X.tofile(os.path.join(d, "X.bin"))
    subprocess.run([exe, "--fit", d, str(m), str(n), str(N), str(r), str(c)], check=True)
    rank, nnz, rel = open(os.path.join(d, "info.txt")).read().split()
    rank, nnz, rel = int(rank), int(nnz), float(rel)
    U = np.fromfile(os.path.join(d, "U.bin"), dtype=np.float32).reshape(m, rank)
    V = np.fromfile(os.path.join(d, "V.bin"), dtype=np.float32).reshape(rank, n)
    rows = np.fromfile(os.path.join(d, "S_row.bin"), dtype=np.int32)
    cols = np.fromfile(os.path.join(d, "S_col.bin"), dtype=np.int32)
    vals = np.fromfile(os.path.join(d, "S_val.bin"), dtype=np.float32)
    S = np.zeros((m, n))
    S[rows, cols] = vals
    W64, X64 = W.astype(np.float64), X.astype(np.float64)
    E = W64 - U.astype(np.float64) @ V.astype(np.float64) - S
    err = np.linalg.norm(E @ X64) / np.linalg.norm(W64 @ X64)
    sv = np.linalg.svd(W64 @ X64, compute_uv=False)
    opt = np.sqrt(np.sum(sv[r:] ** 2) / np.sum(sv ** 2))
    print(f"{name}: m={m} n={n} N={N} r={r} c={c}: error {err:.5f} (solver says {rel:.5f}), "
          f"rank-{r} SVD optimum {opt:.5f}")
    ok = True
    ok &= rank <= min(r, m, n) and nnz <= c and len(vals) == nnz
    ok &= abs(err - rel) <= 1e-3 * err + 1e-6
    ok &= bool(np.all(np.isfinite(U))) and bool(np.all(np.isfinite(V))) and bool(np.all(np.isfinite(vals)))
    if c == 0:
        ok &= opt * (1 - 1e-3) <= err <= opt * 1.005
    else:
        ok &= err < opt
    if not ok:
        print(f"{name}: FAILED")
    return ok


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    ok = True
    ok &= run_case(exe, work, "lowrank", 60, 90, 400, 8, 0, 1)
    ok &= run_case(exe, work, "fewsamples", 70, 50, 30, 5, 0, 2)
    ok &= run_case(exe, work, "lrsc", 60, 90, 400, 6, 300, 3)
    ok &= run_case(exe, work, "pruning", 40, 64, 200, 0, 500, 4)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
