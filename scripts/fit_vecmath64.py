#!/usr/bin/env python3
"""Fit the polynomials of the float64 exp and log1p kernels in templates/runtime.h
(cg_exp_nonpos, cg_log1p_unit).

    python3 scripts/fit_vecmath64.py

Chebyshev fits at 60 digits (mpmath.chebyfit: near-minimax) of the part of the function each
kernel leaves to its polynomial; printed as float64 hex (highest degree first, as the C's
Horner chains hold them) with the relative error the rounded polynomial makes on a grid:

- exp: e^r = 1 + r + r^2 q(r) on |r| <= ln(2)/2, q of degree 10 (degrees 8-10 shown);
- log: log(1 + f) = 2 atanh(s) = 2 s + s z P(z), z = s^2, s in [-1/7, 1/5] (1 + f in
  [3/4, 3/2)), P of degree 6 (degrees 5-7 shown).
"""
import mpmath

mpmath.mp.dps = 60
HALF_LN2 = mpmath.log(2) / 2


def exp_q(r):
    if abs(r) < mpmath.mpf("1e-20"):
        return mpmath.mpf(1) / 2
    return (mpmath.exp(r) - 1 - r) / r ** 2


def log_p(z):
    if z < mpmath.mpf("1e-30"):
        return mpmath.mpf(2) / 3
    s = mpmath.sqrt(z)
    return (2 * mpmath.atanh(s) - 2 * s) / s / z


def rounded(coefs):
    return [mpmath.mpf(float(c)) for c in coefs]


def main() -> None:
    for deg in (8, 9, 10):
        c, _ = mpmath.chebyfit(exp_q, [-HALF_LN2, HALF_LN2], deg + 1, error=True)
        cd = rounded(c)
        worst = max(abs((1 + r + r * r * mpmath.polyval(cd, r)) / mpmath.exp(r) - 1)
                    for r in (-HALF_LN2 + 2 * HALF_LN2 * i / 2000 for i in range(2001)))
        print(f"exp: q of degree {deg}, relative error {float(worst):.2e}")
        print("   ", [float(x).hex() for x in c])
    for deg in (5, 6, 7):
        c, _ = mpmath.chebyfit(log_p, [0, mpmath.mpf(1) / 25], deg + 1, error=True)
        cd = rounded(c)
        worst = 0
        for i in range(-1429, 2001):      # s in [-1/7, 1/5]
            s = mpmath.mpf(i) / 10000
            if s:
                z = s * s
                got = 2 * s + s * z * mpmath.polyval(cd, z)
                worst = max(worst, abs(got / (2 * mpmath.atanh(s)) - 1))
        print(f"log: P of degree {deg}, relative error {float(worst):.2e}")
        print("   ", [float(x).hex() for x in c])


if __name__ == "__main__":
    main()
