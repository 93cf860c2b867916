"""The few tests fashionlab makes, on scipy.special's distribution functions (Student's t, the binomial,
the noncentral t).

scipy.stats gives the same numbers (tests/test_pvalues.py checks each against it: ttest_ind, ttest_rel,
linregress, binomtest, nct), but importing it takes about 0.5 s more than scipy.special (it parses every
distribution's docstring): more than reading 500 runs, and paid by every `compare` and `report`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TINY = 1.0e-20  # scipy.stats.linregress's guard against r = +-1


def _t(diff: Any, se: Any, df: Any, confidence: float) -> dict[str, Any]:
    """Two-sided p of diff / se on Student's t with df degrees of freedom, and the interval of diff."""
    from scipy import special

    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.divide(diff, se)
    q = special.stdtrit(df, 0.5 + confidence / 2)
    return {"p": 2 * special.stdtr(df, -np.abs(t)), "low": diff - q * se, "high": diff + q * se}


def welch(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> dict[str, Any]:
    """Welch's t-test of mean(a) - mean(b) along the last axis (as scipy.stats.ttest_ind(a, b, axis=-1,
    equal_var=False) and its confidence_interval): arrays of diff, low, high and p."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = a.shape[-1], b.shape[-1]
    va, vb = a.var(axis=-1, ddof=1) / na, b.var(axis=-1, ddof=1) / nb
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    diff = a.mean(axis=-1) - b.mean(axis=-1)
    return {"diff": diff, **_t(diff, np.sqrt(va + vb), df, confidence)}


def paired(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """The paired t-test of a - b (as scipy.stats.ttest_rel and its confidence_interval): diff, low, high, p."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = d.size
    diff = float(d.mean())
    found = _t(diff, float(d.std(ddof=1)) / np.sqrt(n), n - 1, confidence)
    return {"diff": diff, **{k: float(v) for k, v in found.items()}}


def slope_above_zero(y: list[float] | np.ndarray) -> dict[str, float]:
    """The least-squares slope of y over 0, 1, 2, ... and the one-sided p that it is above 0 (as
    scipy.stats.linregress(x, y, alternative="greater")): p is NaN for a constant y, as scipy's."""
    from scipy import special

    y = np.asarray(y, dtype=float)
    n = y.size
    x = np.arange(n, dtype=float)
    sxx = float(np.mean((x - x.mean()) ** 2))
    sxy = float(np.mean((x - x.mean()) * (y - y.mean())))
    syy = float(np.mean((y - y.mean()) ** 2))
    if syy == 0:
        return {"slope": 0.0, "p": float("nan")}
    r = min(1.0, max(-1.0, sxy / np.sqrt(sxx * syy)))
    df = n - 2
    t = r * np.sqrt(df / ((1.0 - r + TINY) * (1.0 + r + TINY)))
    return {"slope": sxy / sxx, "p": float(special.stdtr(df, -t))}


def sign_test(k: int, n: int) -> float:
    """The exact two-sided binomial test of k successes in n at p = 1/2 (McNemar's exact test on the n
    discordant pairs; as scipy.stats.binomtest(k, n, 0.5).pvalue): 1 for n = 0."""
    from scipy import special

    low = min(k, n - k)
    if n == 0 or 2 * low == n:
        return 1.0
    return float(min(1.0, 2 * special.bdtr(low, n, 0.5)))


def power(effect: float, n: np.ndarray, alpha: float) -> np.ndarray:
    """The power of a two-sided two-sample t-test at level alpha with n values a side, for a standardized
    difference `effect` (noncentral t, df 2n - 2, as scipy.stats.nct.sf + nct.cdf)."""
    from scipy import special

    df, shift = 2 * n - 2, effect * np.sqrt(n / 2)
    critical = special.stdtrit(df, 1 - alpha / 2)
    return 1 - special.nctdtr(df, shift, critical) + special.nctdtr(df, shift, -critical)
