"""fashionlab.pvalues gives scipy.stats's numbers: each test against scipy.stats on many random and edge inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fashionlab import pvalues

rng = np.random.default_rng(0)


def close(a: object, b: object) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("na,nb", [(2, 2), (3, 5), (5, 5), (20, 7)])
def test_welch_is_scipys_ttest_ind(na: int, nb: int) -> None:
    a = rng.normal(0.88, 0.01, size=(50, na))
    b = rng.normal(0.885, 0.02, size=(50, nb))
    mine = pvalues.welch(a, b, 0.95)
    theirs = stats.ttest_ind(a, b, axis=1, equal_var=False)
    interval = theirs.confidence_interval(0.95)
    close(mine["p"], theirs.pvalue)
    close(mine["low"], interval.low)
    close(mine["high"], interval.high)
    close(mine["diff"], a.mean(axis=1) - b.mean(axis=1))


def test_paired_is_scipys_ttest_rel() -> None:
    for n in (2, 10, 10_000):
        a, b = rng.exponential(0.4, n), rng.exponential(0.45, n)
        mine, theirs = pvalues.paired(a, b, 0.9), stats.ttest_rel(a, b)
        interval = theirs.confidence_interval(0.9)
        close([mine["p"], mine["low"], mine["high"]], [theirs.pvalue, interval.low, interval.high])


@pytest.mark.parametrize(
    "y", [[0.30, 0.31, 0.33, 0.36], [0.3, 0.29, 0.31, 0.30, 0.28], [1.0, 2.0, 3.0], [0.5, 0.5, 0.5, 0.5],
          list(np.linspace(0.3, 1.2, 140) + rng.normal(0, 0.05, 140))],
)  # fmt: skip
def test_slope_is_scipys_linregress_greater(y: list[float]) -> None:
    mine = pvalues.slope_above_zero(y)
    theirs = stats.linregress(np.arange(len(y)), y, alternative="greater")
    close([mine["slope"], mine["p"]], [theirs.slope, theirs.pvalue])


def test_sign_test_is_scipys_binomtest() -> None:
    for n in (0, 1, 2, 7, 8, 50, 628, 2000):
        for k in {0, 1, n // 3, n // 2, n - 1, n} - {-1}:
            if 0 <= k <= n:
                expected = stats.binomtest(k, n, 0.5).pvalue if n else 1.0
                close(pvalues.sign_test(k, n), expected)


def test_power_is_scipys_noncentral_t() -> None:
    n = np.arange(2, 300)
    for effect in (0.05, 0.5, 2.0):
        df, shift = 2 * n - 2, effect * np.sqrt(n / 2)
        critical = stats.t.ppf(0.975, df)
        expected = stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)
        close(pvalues.power(effect, n, 0.05), expected)


def test_seeds_needed_is_the_first_n_whose_power_reaches_80_percent() -> None:
    """t_seeds looks near the normal approximation first: the same n as scanning every n with scipy.stats."""
    from fashionlab.results import noise

    n = np.arange(2, noise.MAX_SEEDS + 1)
    df = 2 * n - 2
    critical = stats.t.ppf(0.975, df)
    for effect in [*np.geomspace(0.02, 15, 60), 0.0887]:
        shift = effect * np.sqrt(n / 2)
        powers = stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)
        for start in (2, 4, 7):
            reached = np.flatnonzero((powers >= 0.8) & (n >= start))
            assert noise.t_seeds(float(effect), start) == (int(n[reached[0]]) if len(reached) else None), (
                effect,
                start,
            )
