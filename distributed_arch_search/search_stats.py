"""The statistics of the search studies (tools/rank_correlation.py, tools/compare_search.py,
tools/evaluator_noise.py, tools/arch_spread.py), on scipy.stats: rank correlation with bootstrap
intervals, seed-to-seed against architecture-to-architecture spread, the one-way ANOVA of "do these
architectures differ at all", split-half reliability, the one-sided Mann-Whitney U test of
"evolution scores higher than random" and the one-sided Wilcoxon signed-rank test of "the
evolution's pick retrains higher than random search's, seed by seed"."""

import math
import statistics
import warnings

import numpy as np
from scipy import stats


def rank_correlation(x, y, n_resamples=2000, confidence=0.95, seed=0):
    """Kendall tau-b and Spearman rho between paired samples x and y, each with its p-value (null:
    no correlation, two-sided) and a paired percentile-bootstrap interval."""
    x, y = _paired(x, y, minimum=3)
    out = {"n": len(x), "confidence": confidence, "n_resamples": n_resamples}
    for name, fn in (("kendall_tau", stats.kendalltau), ("spearman_rho", stats.spearmanr)):
        result = fn(x, y)
        with warnings.catch_warnings():  # resamples of equal values warn; _nan_to_zero handles them
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            interval = stats.bootstrap(
                (x, y),
                lambda a, b, fn=fn: _nan_to_zero(fn(a, b).statistic),
                paired=True,
                vectorized=False,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                rng=np.random.default_rng(seed),
            ).confidence_interval
        out[name] = {
            "value": float(result.statistic),
            "p_value": float(result.pvalue),
            "ci": [float(interval.low), float(interval.high)],
        }
    return out


def _nan_to_zero(v):
    # A resample whose values are all equal has no ranking; count it as no correlation.
    return 0.0 if math.isnan(v) else float(v)


def seed_vs_arch_spread(values_per_arch):
    """`values_per_arch`: one list of per-seed values per architecture. Returns the pooled seed-to-
    seed standard deviation (root of the mean per-architecture variance), the standard deviation of
    the per-architecture means, and their ratio: a ranking can only be measured where the second is
    clearly larger than the first."""
    groups = [list(map(float, v)) for v in values_per_arch]
    if len(groups) < 2 or any(len(g) < 1 for g in groups):
        raise ValueError("need at least 2 architectures with at least one value each")
    multi = [g for g in groups if len(g) >= 2]
    within = math.sqrt(statistics.fmean(statistics.variance(g) for g in multi)) if multi else None
    between = statistics.stdev(statistics.fmean(g) for g in groups)
    return {"seed_sd": within, "arch_sd": between, "arch_over_seed": between / within if within else None}


def architectures_differ(values_per_arch):
    """`values_per_arch`: one list of per-seed values per architecture (at least 2 seeds each). The
    one-way ANOVA F test of "all architectures have the same expected value" and the standard
    deviation of the architectures' expected values that it implies, net of seed noise (the between-
    group variance component, (MS_between - MS_within) / mean group size, 0 where negative). F is None
    where the seeds agree exactly (infinite F, p = 0); equal values everywhere are an error."""
    groups = [[float(v) for v in g] for g in values_per_arch]
    if len(groups) < 2 or any(len(g) < 2 for g in groups):
        raise ValueError("need at least 2 architectures with at least 2 seeds each")
    if len({v for g in groups for v in g}) == 1:
        raise ValueError(f"every value is {groups[0][0]}: there is nothing to compare")
    n = [len(g) for g in groups]
    total = sum(n)
    grand = sum(map(sum, groups)) / total
    ms_between = sum(k * (statistics.fmean(g) - grand) ** 2 for k, g in zip(n, groups)) / (len(groups) - 1)
    ms_within = sum((v - statistics.fmean(g)) ** 2 for g in groups for v in g) / (total - len(groups))
    # The variance component's coefficient for unequal group sizes (n0 of the random-effects ANOVA).
    n0 = (total - sum(k * k for k in n) / total) / (len(groups) - 1)
    if ms_within == 0:  # seeds agree exactly, architectures do not: F is infinite
        f, p = None, 0.0
    else:
        result = stats.f_oneway(*groups)
        f, p = float(result.statistic), float(result.pvalue)
    return {
        "f": f,
        "p_value": p,
        "df": [len(groups) - 1, total - len(groups)],
        "arch_effect_sd": math.sqrt(max(0.0, (ms_between - ms_within) / n0)),
        "seed_sd": math.sqrt(ms_within),
    }


def split_half_reliability(a, b, factors=(2, 4, 8)):
    """Scores of the same architectures on two disjoint halves of a test set: their Pearson r (with its
    two-sided p-value), and the Spearman-Brown prediction of the reliability (the correlation of two
    independent measurements) of a test set `k` halves large, for each k of `factors` (2: the whole
    set). Where r <= 0 the halves share no signal and every prediction is 0."""
    a, b = _paired(a, b, minimum=3)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError("split-half scores must vary over the architectures")
    result = stats.pearsonr(a, b)
    r = float(result.statistic)
    return {
        "n": len(a),
        "pearson_r": r,
        "p_value": float(result.pvalue),
        "predicted": {str(k): (k * r / (1 + (k - 1) * r) if r > 0 else 0.0) for k in factors},
    }


def shift_and_reorder(values_per_arch):
    """`values_per_arch`: one row per architecture, one column per measurement condition (for example a
    BN-recalibration subset), equal lengths. A condition that moves every architecture alike does not
    change a ranking, so split the spread into the mean of each condition (the common shift), the
    residual standard deviation of the two-way additive fit (what reorders architectures), and the
    standard deviation of the per-architecture means."""
    x = np.asarray([[float(v) for v in row] for row in values_per_arch])
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"need at least 2 architectures x 2 conditions of equal length, got shape {x.shape}")
    n, m = x.shape
    residual = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    return {
        "condition_means": [float(v) for v in x.mean(axis=0)],
        "reorder_sd": math.sqrt(float((residual**2).sum()) / ((n - 1) * (m - 1))),
        "arch_sd": float(x.mean(axis=1).std(ddof=1)),
    }


def mann_whitney_greater(a, b):
    """One-sided Mann-Whitney U test that values of `a` tend to be larger than values of `b`."""
    a, b = [float(v) for v in a], [float(v) for v in b]
    if not a or not b:
        raise ValueError(f"need values in both samples, got {len(a)} and {len(b)}")
    result = stats.mannwhitneyu(a, b, alternative="greater")
    return {
        "u": float(result.statistic),
        "p_value": float(result.pvalue),
        "n_a": len(a),
        "n_b": len(b),
        "alternative": "greater",
        "common_language_effect": float(result.statistic) / (len(a) * len(b)),
    }


def wilcoxon_greater(a, b):
    """One-sided Wilcoxon signed-rank test that paired values of `a` are larger than those of `b`.
    Zero differences (a pair that is the same architecture) carry no sign and are dropped, as in
    Wilcoxon's test; with none left there is no test (statistic and p None)."""
    x, y = _paired(a, b, 1)
    diffs = x - y
    nonzero = int(np.count_nonzero(diffs))
    out = {"n": len(diffs), "n_nonzero": nonzero, "alternative": "greater", "statistic": None, "p_value": None}
    if nonzero:
        result = stats.wilcoxon(x, y, alternative="greater", zero_method="wilcox")
        out.update(statistic=float(result.statistic), p_value=float(result.pvalue))
    return out


def mean_sd(values):
    values = [float(v) for v in values]
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def _paired(x, y, minimum):
    x, y = [float(v) for v in x], [float(v) for v in y]
    if len(x) != len(y):
        raise ValueError(f"paired samples must have equal lengths, got {len(x)} and {len(y)}")
    if len(x) < minimum:
        raise ValueError(f"need at least {minimum} pairs, got {len(x)}")
    if not all(math.isfinite(v) for v in x + y):
        raise ValueError("paired samples must be finite numbers")
    return np.asarray(x), np.asarray(y)
