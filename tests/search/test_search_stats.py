"""The study statistics against hand-computed values and scipy.stats called directly."""

import math
import statistics

import numpy as np
import pytest
from scipy import stats

from distributed_arch_search.search_stats import (
    architectures_differ,
    mann_whitney_greater,
    mean_sd,
    rank_correlation,
    seed_vs_arch_spread,
    shift_and_reorder,
    split_half_reliability,
    wilcoxon_greater,
)


def test_rank_correlation_by_hand_and_against_scipy():
    x, y = [1, 2, 3, 4, 5], [1, 3, 2, 5, 4]
    r = rank_correlation(x, y, n_resamples=500)
    # 10 pairs, 2 discordant ((2,3) and (4,5)): tau = (8 - 2) / 10; sum d^2 = 4: rho = 1 - 6*4/(5*24).
    assert r["kendall_tau"]["value"] == pytest.approx(0.6)
    assert r["spearman_rho"]["value"] == pytest.approx(0.8)
    assert r["kendall_tau"]["p_value"] == pytest.approx(stats.kendalltau(x, y).pvalue)
    assert r["spearman_rho"]["p_value"] == pytest.approx(stats.spearmanr(x, y).pvalue)
    # Exact null of tau for n=5: permutations with <= 2 inversions (tau >= 0.6) are 1 + 4 + 9 = 14
    # of 120; two-sided: 28/120.
    assert r["kendall_tau"]["p_value"] == pytest.approx(28 / 120)
    assert r["n"] == 5


def test_bootstrap_interval_is_scipys_and_repeatable():
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = x + rng.normal(scale=0.8, size=12)
    r = rank_correlation(x, y, n_resamples=1000, seed=7)
    assert r == rank_correlation(x, y, n_resamples=1000, seed=7)
    ref = stats.bootstrap(
        (x, y),
        lambda a, b: stats.kendalltau(a, b).statistic,
        paired=True,
        vectorized=False,
        n_resamples=1000,
        method="percentile",
        rng=np.random.default_rng(7),
    ).confidence_interval
    lo, hi = r["kendall_tau"]["ci"]
    assert (lo, hi) == pytest.approx((ref.low, ref.high))
    assert lo <= r["kendall_tau"]["value"] <= hi and -1 <= lo < hi <= 1


def test_perfect_and_reversed_rankings():
    x = list(range(10))
    assert rank_correlation(x, [2 * v + 1 for v in x], n_resamples=200)["kendall_tau"]["value"] == pytest.approx(1.0)
    assert rank_correlation(x, [-v for v in x], n_resamples=200)["spearman_rho"]["value"] == pytest.approx(-1.0)


def test_rank_correlation_refuses_bad_input():
    with pytest.raises(ValueError, match="equal lengths"):
        rank_correlation([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        rank_correlation([1, 2], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        rank_correlation([1, 2, float("nan")], [1, 2, 3])


def test_seed_vs_arch_spread_by_recomputation():
    groups = [[0.10, 0.12], [0.20, 0.19], [0.31, 0.35]]
    r = seed_vs_arch_spread(groups)
    within = math.sqrt(
        (statistics.variance(groups[0]) + statistics.variance(groups[1]) + statistics.variance(groups[2])) / 3
    )
    between = statistics.stdev([0.11, 0.195, 0.33])
    assert r["seed_sd"] == pytest.approx(within) and r["arch_sd"] == pytest.approx(between)
    assert r["arch_over_seed"] == pytest.approx(between / within)
    assert seed_vs_arch_spread([[0.1], [0.3]])["seed_sd"] is None  # one seed: no seed spread


def test_architectures_differ_by_hand_and_against_scipy():
    groups = [[1.0, 2.0], [3.0, 5.0], [6.0, 6.0]]
    r = architectures_differ(groups)
    # Means 1.5, 4, 6 around 23/6; MS_between = 2 * sum of squared deviations / 2, MS_within = 2.5 / 3.
    ms_between = 2 * ((1.5 - 23 / 6) ** 2 + (4 - 23 / 6) ** 2 + (6 - 23 / 6) ** 2) / 2
    ms_within = (0.5 + 2.0 + 0.0) / 3
    assert r["f"] == pytest.approx(ms_between / ms_within) and r["df"] == [2, 3]
    assert r["p_value"] == pytest.approx(stats.f_oneway(*groups).pvalue)
    assert r["p_value"] == pytest.approx(stats.f.sf(ms_between / ms_within, 2, 3))
    assert r["arch_effect_sd"] == pytest.approx(math.sqrt((ms_between - ms_within) / 2))
    assert r["seed_sd"] == pytest.approx(math.sqrt(ms_within))
    # Unequal seeds per architecture: n0 = (5 - (4 + 9) / 5) / 1 = 2.4.
    r = architectures_differ([[1.0, 3.0], [4.0, 6.0, 8.0]])
    ms_between = 2 * (2 - 4.4) ** 2 + 3 * (6 - 4.4) ** 2
    assert r["arch_effect_sd"] == pytest.approx(math.sqrt((ms_between - 10 / 3) / 2.4))
    # Architectures that differ less than their seeds: no effect left, a large p.
    r = architectures_differ([[0.0, 1.0], [0.1, 0.9]])
    assert r["arch_effect_sd"] == 0.0 and r["p_value"] > 0.5
    with pytest.raises(ValueError, match="2 seeds"):
        architectures_differ([[0.1], [0.2, 0.3]])
    with pytest.raises(ValueError, match="nothing to compare"):
        architectures_differ([[0.0, 0.0], [0.0, 0.0]])  # a recipe too short to detect anything
    r = architectures_differ([[0.1, 0.1], [0.3, 0.3]])
    assert r["f"] is None and r["p_value"] == 0.0 and r["arch_effect_sd"] == pytest.approx(0.2 / math.sqrt(2))


def test_mann_whitney_against_scipy_and_by_hand():
    a, b = [5, 6, 7], [1, 2, 8]
    r = mann_whitney_greater(a, b)
    # U of a: pairs (ai, bj) with ai > bj: 5>1,5>2,6>1,6>2,7>1,7>2 = 6 of 9.
    assert r["u"] == 6 and r["common_language_effect"] == pytest.approx(6 / 9)
    assert r["p_value"] == pytest.approx(stats.mannwhitneyu(a, b, alternative="greater").pvalue)
    # Exact: P(U >= 6) under the null, over the C(6,3) = 20 equally likely rank sets: 7 of 20.
    assert r["p_value"] == pytest.approx(7 / 20)
    with pytest.raises(ValueError, match="both samples"):
        mann_whitney_greater([], [1])


def test_wilcoxon_against_scipy_and_by_hand():
    a, b = [0.5, 0.4, 0.3, 0.3, 0.6], [0.2, 0.5, 0.1, 0.3, 0.1]
    r = wilcoxon_greater(a, b)
    # Differences +0.3 -0.1 +0.2 0 +0.5: the zero (one architecture in both arms) is dropped; ranks of
    # |d| 3, 1, 2, 4, positive sum W = 3 + 2 + 4 = 9; exactly P(W >= 9) = 2 of the 2^4 sign patterns.
    assert r["n"] == 5 and r["n_nonzero"] == 4 and r["statistic"] == 9
    assert r["p_value"] == pytest.approx(2 / 16)
    assert r["p_value"] == pytest.approx(stats.wilcoxon(a, b, alternative="greater").pvalue)
    assert wilcoxon_greater([0.2, 0.3], [0.2, 0.3])["p_value"] is None  # nothing differs: no test
    with pytest.raises(ValueError, match="equal lengths"):
        wilcoxon_greater([1, 2], [1])


def test_mean_sd():
    assert mean_sd([1, 2, 3]) == {"mean": 2.0, "sd": 1.0, "values": [1.0, 2.0, 3.0]}
    assert mean_sd([4])["sd"] == 0.0


def test_split_half_reliability_by_hand_and_against_scipy():
    a, b = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]
    r = split_half_reliability(a, b, factors=(1, 2, 4))
    # Centred: a (-1.5, -.5, .5, 1.5), b (-1.5, .5, -.5, 1.5); sum of products 4, sums of squares 5: r = 0.8.
    assert r["pearson_r"] == pytest.approx(0.8)
    assert r["p_value"] == pytest.approx(stats.pearsonr(a, b).pvalue)
    # Spearman-Brown k r / (1 + (k - 1) r): one half is r itself; the whole set 1.6 / 1.8; twice it 3.2 / 3.4.
    assert r["predicted"] == pytest.approx({"1": 0.8, "2": 1.6 / 1.8, "4": 3.2 / 3.4})
    assert r["n"] == 4


def test_split_half_reliability_without_shared_signal_predicts_zero_and_refuses_constant_scores():
    r = split_half_reliability([1, 2, 3, 4], [4, 3, 2, 1.5])
    assert r["pearson_r"] < 0
    assert set(r["predicted"].values()) == {0.0}
    with pytest.raises(ValueError, match="must vary"):
        split_half_reliability([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 3 pairs"):
        split_half_reliability([1, 2], [1, 2])


def test_shift_and_reorder_by_hand():
    # Condition 2 adds 0.1 to every architecture: a pure shift, nothing reorders.
    r = shift_and_reorder([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    assert r["condition_means"] == pytest.approx([0.3, 0.4])
    assert r["reorder_sd"] == pytest.approx(0.0, abs=1e-12)
    assert r["arch_sd"] == pytest.approx(statistics.stdev([0.15, 0.35, 0.55]))
    # Two architectures swap by +-d around their means: residuals +-d/2 in every cell, (n-1)(m-1) = 1.
    d = 0.04
    r = shift_and_reorder([[0.5 + d / 2, 0.5 - d / 2], [0.3 - d / 2, 0.3 + d / 2]])
    assert r["reorder_sd"] == pytest.approx(math.sqrt(4 * (d / 2) ** 2))
    with pytest.raises(ValueError, match="2 architectures x 2 conditions"):
        shift_and_reorder([[0.1, 0.2]])
