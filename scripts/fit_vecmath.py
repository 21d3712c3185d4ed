#!/usr/bin/env python3
"""Fit the polynomials of the float32 exp and log1p kernels in templates/runtime.h.

    python3 scripts/fit_vecmath.py

Each polynomial is a minimax fit (Remez exchange on a dense grid) of the part of the
function the kernel leaves to it, with the reference computed by mpmath at 50 digits; the
coefficients are printed rounded to float32 (as the C code holds them) with the maximum
error the rounded polynomial makes, measured on the grid:

- exp: e^r on |r| <= ln(2)/2 by a polynomial of degree 6 (relative error; its two leading
  coefficients round to exactly 1, which the kernel uses);
- log: log(1 + f) = 2 atanh(s) = 2 s + s R(s^2), s = f / (2 + f), 1 + f in
  [sqrt(2)/2, sqrt(2)); R(z) = z (c1 + c2 z + c3 z^2 + c4 z^3) (absolute error in R, which
  the kernel multiplies by s); and the same R for s up to 1/5 (cg_log1p_unitf).
"""
import mpmath
import numpy as np

mpmath.mp.dps = 50


def remez(target, basis, lo, hi, weight, n_grid=20000, iters=30):
    """Coefficients of sum c_k basis_k(x) minimising max |weight(x) (target(x) - p(x))| on a
    grid of [lo, hi] (discrete Remez exchange: the levelled error on n + 1 reference points,
    then the reference moved to the extrema of the new error curve)."""
    grid = np.array([float(lo + (hi - lo) * (1 - np.cos(np.pi * i / (n_grid - 1))) / 2)
                     for i in range(n_grid)])
    ref_vals = np.array([float(target(mpmath.mpf(x))) for x in grid])
    w = weight(grid)
    b = np.stack([f(grid) for f in basis], axis=1)
    n = len(basis)
    idx = np.round(np.linspace(0, n_grid - 1, n + 1)).astype(int)
    for _ in range(iters):
        sign = (-1.0) ** np.arange(n + 1)
        a = np.concatenate([b[idx] * w[idx, None], (sign)[:, None]], axis=1)
        sol = np.linalg.solve(a, ref_vals[idx] * w[idx])
        coef = sol[:n]
        err = w * (ref_vals - b @ coef)
        # one extremum per run of equal sign
        new, start = [], 0
        s = np.sign(err)
        for i in range(1, n_grid + 1):
            if i == n_grid or s[i] != s[start]:
                new.append(start + int(np.argmax(np.abs(err[start:i]))))
                start = i
        if len(new) < n + 1:
            break
        new = np.array(new)
        # keep n + 1 alternating points around the largest error
        while len(new) > n + 1:
            drop = 0 if abs(err[new[0]]) < abs(err[new[-1]]) else -1
            new = np.delete(new, drop)
        if np.array_equal(new, idx):
            break
        idx = new
    return coef, grid, ref_vals, w, b


def report(name, coef, grid, ref_vals, w, b):
    c32 = coef.astype(np.float32).astype(np.float64)
    err = np.max(np.abs(w * (ref_vals - b @ c32)))
    print(f"{name}: max weighted error {err:.3g} (float32 coefficients)")
    for k, c in enumerate(c32):
        mantissa, exponent = float(c).hex().split("p")
        print(f"  c{k}: {mantissa.rstrip('0')}p{exponent}f  /* {c:.9g} */")


def main():
    half_ln2 = mpmath.log(2) / 2
    # exp: e^r itself, weighted so the error is relative
    basis = [lambda x, k=k: x ** k for k in range(7)]
    fit = remez(mpmath.exp, basis, -float(half_ln2), float(half_ln2),
                weight=lambda x: 1 / np.exp(x))
    report("exp", *fit)
    # log: R(z) = (2 atanh(s) - 2 s) / s, z = s^2, on s <= (sqrt2 - 1) / (sqrt2 + 1)
    s_max = (mpmath.sqrt(2) - 1) / (mpmath.sqrt(2) + 1)
    r = lambda z: (2 * mpmath.atanh(mpmath.sqrt(z)) - 2 * mpmath.sqrt(z)) / mpmath.sqrt(z) \
        if z != 0 else mpmath.mpf(0)
    basis = [lambda x, k=k: x ** (k + 1) for k in range(4)]
    fit = remez(r, basis, 0.0, float(s_max ** 2), weight=lambda x: np.ones_like(x))
    report("log R", *fit)
    # log1p of e in [0, 1] (softplus): 1 + e = 2^k (1 + f) with f in [-1/4, 1/2) exactly,
    # so s = f / (2 + f) reaches 1/5
    fit = remez(r, basis, 0.0, 0.04, weight=lambda x: np.ones_like(x))
    report("log R on s <= 1/5", *fit)


if __name__ == "__main__":
    main()
