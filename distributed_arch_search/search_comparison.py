"""Evolution against random search at an equal number of evaluations, over several seeds: the runs'
figures, the test, and the best-so-far plot (tools/compare_search.py and the demo use it).

Both arms run the search master with the same space, FLOPs limits, population, generations and
evaluator; the random arm has no mutation and no crossover, so every generation is drawn at random,
and with the same EVOLUTION.SEED its generation 0 is the evolution's (one evaluation, shared through
the score cache). Every run keeps its own search_results.json, from which everything here is
recomputed.

Search-val AP is the supernet's view. Whether the search's pick is truly better is asked by
retraining, seed by seed: each search seed's best found and best random architecture trained
stand-alone (`retrained`), the paired differences and a one-sided Wilcoxon signed-rank test.
"""

import math
import os
import statistics

from . import search_stats, studies

ARMS = ("evolution", "random")


def arm_opts(arm, population, generations, parents, mutants, crossovers, mutation_prob, top_k):
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    mutants, crossovers = (mutants, crossovers) if arm == "evolution" else (0, 0)
    return [
        "EVOLUTION.POPULATION_SIZE",
        str(population),
        "EVOLUTION.NUM_GENERATIONS",
        str(generations),
        "EVOLUTION.NUM_PARENTS",
        str(parents),
        "EVOLUTION.NUM_MUTANTS",
        str(mutants),
        "EVOLUTION.NUM_CROSSOVERS",
        str(crossovers),
        "EVOLUTION.MUTATION_PROB",
        str(mutation_prob),
        "MASTER.TOP_K",
        str(top_k),
    ]


def run_folder(root, arm, seed):
    return os.path.join(root, f"{arm}_seed{seed}")


def best_so_far(summary):
    """Best AP after each evaluation, in the order the run recorded its results (failed ones count
    as evaluations that found nothing)."""
    curve, best = [], -math.inf
    for r in summary["results"]:
        if r["status"] == "ok":
            best = max(best, r["ap"])
        curve.append(best if best > -math.inf else None)
    return curve


def last_generations(num_generations, fraction=0.25):
    """Indices of the generations that make up the last `fraction` of a run's budget."""
    count = max(1, math.ceil(num_generations * fraction))
    return set(range(num_generations - count, num_generations))


def run_figures(summary, top_k):
    ok = studies.ok_results(summary)
    if not ok:
        raise studies.StudyError(f"search {summary['experiment']} has no successful evaluation")
    aps = sorted((r["ap"] for r in ok), reverse=True)
    generations = summary["evolution"]["num_generations"]
    last = max(r["generation"] for r in ok)
    tail = last_generations(generations)
    return {
        "evaluations": len(summary["results"]),
        "failed": summary["num_failed"],
        "best_ap": aps[0],
        "best_arch": summary["best"]["arch"],
        "top_k_mean_ap": statistics.fmean(aps[:top_k]),
        "last_generation_median_ap": statistics.median(r["ap"] for r in ok if r["generation"] == last),
        "last_quarter_aps": [r["ap"] for r in ok if r["generation"] in tail],
    }


def compare(runs, top_k):
    """`runs`: {arm: {seed: search_results summary}}. The comparison's figures, raw values included."""
    figures = {arm: {seed: run_figures(s, top_k) for seed, s in sorted(runs[arm].items())} for arm in ARMS}
    seeds = sorted(figures["evolution"])
    if sorted(figures["random"]) != seeds:
        raise studies.StudyError(f"the arms ran different seeds: {seeds} and {sorted(figures['random'])}")
    budgets = {(arm, seed): f["evaluations"] for arm in ARMS for seed, f in figures[arm].items()}
    if len(set(budgets.values())) != 1:
        raise studies.StudyError(f"runs have unequal numbers of evaluations: {budgets}")
    out = {"seeds": seeds, "top_k": top_k, "evaluations_per_run": next(iter(budgets.values()))}
    for arm in ARMS:
        f = figures[arm]
        out[arm] = {
            "best_ap": search_stats.mean_sd([f[s]["best_ap"] for s in seeds]),
            "top_k_mean_ap": search_stats.mean_sd([f[s]["top_k_mean_ap"] for s in seeds]),
            "last_generation_median_ap": search_stats.mean_sd([f[s]["last_generation_median_ap"] for s in seeds]),
            "best_arch_per_seed": [f[s]["best_arch"] for s in seeds],
            "failed": sum(f[s]["failed"] for s in seeds),
        }
    pooled = {arm: [ap for s in seeds for ap in figures[arm][s]["last_quarter_aps"]] for arm in ARMS}
    out["last_quarter_test"] = search_stats.mann_whitney_greater(pooled["evolution"], pooled["random"])
    out["seeds_where_evolution_best_is_higher"] = sum(
        figures["evolution"][s]["best_ap"] > figures["random"][s]["best_ap"] for s in seeds
    )
    out["curves"] = {arm: {str(s): best_so_far(runs[arm][s]) for s in seeds} for arm in ARMS}
    return out


def best_pairs(comparison):
    """[(search seed, evolution's best architecture, random search's best)] in seed order."""
    found, rand = (comparison[arm]["best_arch_per_seed"] for arm in ARMS)
    return list(zip(comparison["seeds"], found, rand))


def retrained(comparison, rows):
    """The stand-alone AP of each seed's pair (`rows`: studies.standalone_rows of every architecture
    of best_pairs), each pair's difference, how often the found one is higher, and the test."""
    by_arch = {r["arch"]: r for r in rows}
    per_seed = []
    for i, (seed, found, rand) in enumerate(best_pairs(comparison)):
        entry = {"seed": seed}
        for arm, arch in zip(ARMS, (found, rand)):
            if arch not in by_arch:
                raise studies.StudyError(f"seed {seed}: no stand-alone result of the {arm} arm's best {arch}")
            entry[arm] = {
                "arch": arch,
                "search_val_ap": comparison[arm]["best_ap"]["values"][i],
                "retrained_ap": by_arch[arch]["standalone_ap"],
                "retrained_ap_per_seed": by_arch[arch]["standalone_ap_per_seed"],
            }
        entry["difference"] = entry["evolution"]["retrained_ap"] - entry["random"]["retrained_ap"]
        per_seed.append(entry)
    found_aps = [p["evolution"]["retrained_ap"] for p in per_seed]
    random_aps = [p["random"]["retrained_ap"] for p in per_seed]
    return {
        "retrain_seeds": sorted(int(k) for k in rows[0]["standalone_ap_per_seed"]) if rows else [],
        "per_seed": per_seed,
        "evolution": search_stats.mean_sd(found_aps),
        "random": search_stats.mean_sd(random_aps),
        "difference": search_stats.mean_sd([p["difference"] for p in per_seed]),
        "seeds_where_found_is_higher": sum(p["difference"] > 0 for p in per_seed),
        "seeds_with_the_same_best": sum(p["evolution"]["arch"] == p["random"]["arch"] for p in per_seed),
        "test": search_stats.wilcoxon_greater(found_aps, random_aps),
    }


def plot_retrained(path, comparison, title=""):
    """Each search seed's pair after retraining: the found and the random best joined by a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = comparison["retrained"]
    fig, ax = plt.subplots(figsize=(5.0, 4.4))
    for p in r["per_seed"]:
        ys = [p["random"]["retrained_ap"], p["evolution"]["retrained_ap"]]
        color = "tab:red" if p["difference"] > 0 else "tab:gray"
        ax.plot([0, 1], ys, "o-", color=color, alpha=0.8)
        ax.annotate(f"seed {p['seed']}", (1.03, ys[1]), fontsize=7, va="center")
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["best random", "best found (evolution)"])
    ax.set_xlim(-0.3, 1.4)
    ax.set_ylabel(f"retrained AP (mean of {len(r['retrain_seeds'])} seeds)")
    test = r["test"]
    p_text = (
        "no test (every pair the same)" if test["p_value"] is None else f"Wilcoxon one-sided p = {test['p_value']:.3g}"
    )
    ax.set_title(
        (title + "\n" if title else "")
        + f"found higher in {r['seeds_where_found_is_higher']} of {len(r['per_seed'])} seeds; {p_text}",
        fontsize=9,
    )
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot(path, comparison, title=""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    colors = {"evolution": "tab:red", "random": "tab:gray"}
    for arm in ARMS:
        curves = [c for c in comparison["curves"][arm].values()]
        n = min(len(c) for c in curves)
        xs = list(range(1, n + 1))
        columns = [[c[i] for c in curves if c[i] is not None] for i in range(n)]
        keep = [i for i in range(n) if columns[i]]
        mean = [statistics.fmean(columns[i]) for i in keep]
        ax.fill_between(
            [xs[i] for i in keep],
            [min(columns[i]) for i in keep],
            [max(columns[i]) for i in keep],
            color=colors[arm],
            alpha=0.15,
        )
        ax.plot(
            [xs[i] for i in keep],
            mean,
            color=colors[arm],
            lw=2,
            label=f"{arm}: mean of {len(curves)} seeds (band: min-max)",
        )
    test = comparison["last_quarter_test"]
    ax.set_title(
        (title + "\n" if title else "") + f"best AP so far; last-quarter Mann-Whitney U p = "
        f"{test['p_value']:.3g} (evolution > random)",
        fontsize=9,
    )
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best search-val AP so far")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_table(c):
    k = c["top_k"]
    lines = [
        f"evolution vs random search: {len(c['seeds'])} seeds x {c['evaluations_per_run']} evaluations each",
        f"  {'':<28} {'evolution':>17} {'random':>17}",
    ]
    for key, name in (
        ("best_ap", "best AP"),
        ("top_k_mean_ap", f"top-{k} mean AP"),
        ("last_generation_median_ap", "last-generation median AP"),
    ):
        cells = [f"{c[arm][key]['mean']:.4f} +- {c[arm][key]['sd']:.4f}" for arm in ARMS]
        lines.append(f"  {name:<28} {cells[0]:>17} {cells[1]:>17}")
    t = c["last_quarter_test"]
    lines.append(
        f"  last quarter of the budget: Mann-Whitney U = {t['u']:.1f} ({t['n_a']} vs {t['n_b']} "
        f"candidates), one-sided p = {t['p_value']:.4g}"
    )
    lines.append(
        f"  seeds where the evolution's best is higher: {c['seeds_where_evolution_best_is_higher']} "
        f"of {len(c['seeds'])}"
    )
    if "retrained" in c:
        lines += ["", *_retrained_lines(c["retrained"])]
    return "\n".join(lines)


def _retrained_lines(r):
    k = len(r["retrain_seeds"])
    lines = [
        f"each seed's best retrained stand-alone ({k} seeds each, mean AP):",
        f"  {'seed':>4}  {'best found':<22} {'AP':>6}  {'best random':<22} {'AP':>6}  {'difference':>10}",
    ]
    for p in r["per_seed"]:
        f, rand = p["evolution"], p["random"]
        lines.append(
            f"  {p['seed']:>4}  {f['arch']:<22} {f['retrained_ap']:>6.4f}  {rand['arch']:<22} "
            f"{rand['retrained_ap']:>6.4f}  {p['difference']:>+10.4f}"
        )
    t = r["test"]
    test = (
        "no test: every seed's pair is one architecture"
        if t["p_value"] is None
        else f"Wilcoxon signed-rank W = {t['statistic']:.1f} over {t['n_nonzero']} differing pairs, one-sided p = {t['p_value']:.4g}"
    )
    lines += [
        f"  mean {r['evolution']['mean']:.4f} +- {r['evolution']['sd']:.4f} (found) vs "
        f"{r['random']['mean']:.4f} +- {r['random']['sd']:.4f} (random); difference "
        f"{r['difference']['mean']:+.4f} +- {r['difference']['sd']:.4f}",
        f"  found higher in {r['seeds_where_found_is_higher']} of {len(r['per_seed'])} seeds "
        f"({r['seeds_with_the_same_best']} with the same best in both arms); {test}",
    ]
    return lines
