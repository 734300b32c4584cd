#!/usr/bin/env python
"""Does block choice matter on this data? Stand-alone AP of chosen architectures, several seeds each,
and whether they differ beyond seed noise.

    python tools/arch_spread.py --output-dir output/spread \\
        --standalone-args "--evaluator standalone --config-file RETRAIN_CFG --pretrain-args '...'" \\
        [--archs uniform] [--seeds 2] [--workers 2] \\
        [--supernet-args "--evaluator detector --config-file SEARCH_CFG --weights SUPERNET.pth"]

A search can only beat random search where architectures truly differ; this measures that before any
supernet is trained. ``--archs`` names the architectures: digit strings, released names, or
``uniform`` for one choice in every block (all ShuffleNet 3x3, 5x5, 7x7, all Xception: the extremes
of receptive field and depth, whatever their FLOPs). Each is trained stand-alone with ``--seeds``
seeds by the standalone evaluator (pre-training and detection training as a user runs them; folder
``standalone/``), architectures in parallel on the servers. Reported: each architecture's mean and
per-seed AP, the one-way ANOVA F test of "all equal" with its p-value, the architecture effect's
standard deviation net of seed noise against the seed-to-seed one, ``arch_spread.json`` (every raw
figure) and ``arch_spread.png``. With ``--supernet-args`` the same architectures are also scored by
the supernet (folder ``supernet_scores/``) and the report adds the rank correlation between the two:
does the supernet see the differences that stand-alone training shows?

Resumable, and equal trainings are shared with tools/rank_correlation.py through ``--score-cache``;
``--amqp-url`` sends the trainings through RabbitMQ to standalone servers started with
``--seeds 0 1 ...``.
"""

import argparse
import logging
import os
import shlex
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from distributed_arch_search import search_stats, studies  # noqa: E402
from distributed_arch_search.report import write_json_atomic  # noqa: E402
from maskrcnn_benchmark.nas.flops import count_flops  # noqa: E402
from maskrcnn_benchmark.nas.search_space import CHOICE_NAMES  # noqa: E402

logger = logging.getLogger("arch_spread")


def resolve_archs(names, size):
    """Digit strings of `names` (studies.named_archs), at least two."""
    keys = studies.named_archs(names, size)
    if len(keys) < 2:
        raise studies.StudyError(f"--archs must name at least 2 distinct architectures, got {keys}")
    return keys


def describe(key):
    """A short name of a uniform architecture ("all shufflenet_7x7"), else the digit string."""
    if len(set(key)) == 1:
        return f"all {CHOICE_NAMES[int(key[0])]}"
    return key


def analyse(archs, standalone, seeds, supernet=None, n_resamples=2000):
    rows = studies.standalone_rows(standalone, archs, seeds)
    for r in rows:
        r["name"] = describe(r["arch"])
    per_seed = [list(r["standalone_ap_per_seed"].values()) for r in rows]
    try:
        anova = search_stats.architectures_differ(per_seed)
    except ValueError as e:
        raise studies.StudyError(f"stand-alone APs: {e} (a recipe trained too briefly to detect?)") from None
    result = {
        "archs": rows,
        "seeds": list(seeds),
        "anova": anova,
        "spread": search_stats.seed_vs_arch_spread(per_seed),
    }
    if supernet is not None:
        for r, scored in zip(rows, studies.results_of(supernet, archs, "supernet score", "supernet_scores")):
            r["supernet_ap"] = scored["ap"]
        if len(rows) >= 3:
            result.update(
                search_stats.rank_correlation(
                    [r["supernet_ap"] for r in rows], [r["standalone_ap"] for r in rows], n_resamples=n_resamples
                )
            )
    return result


def _f_text(anova, digits):
    return "inf (seeds agree exactly)" if anova["f"] is None else f"{anova['f']:.{digits}f}"


def plot(path, result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["archs"]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(rows) + 2), 4.6))
    for i, r in enumerate(rows):
        per_seed = list(r["standalone_ap_per_seed"].values())
        ax.scatter([i] * len(per_seed), per_seed, s=18, color="tab:blue", alpha=0.6)
        ax.hlines(r["standalone_ap"], i - 0.3, i + 0.3, color="tab:red", linewidth=2)
    ax.set_xticks(range(len(rows)))
    labels = [r["name"].replace("all ", "all\n") + f"\n{r['flops'] / 1e6:.0f}M" for r in rows]
    ax.set_xticklabels(labels, fontsize=7)
    a = result["anova"]
    ax.set_title(
        f"one-way ANOVA F({a['df'][0]}, {a['df'][1]}) = {_f_text(a, 2)}, p = {a['p_value']:.3g}; architecture "
        f"effect sd {a['arch_effect_sd']:.4f}, seed sd {a['seed_sd']:.4f}",
        fontsize=8,
    )
    ax.set_ylabel("stand-alone AP (dots: seeds, bar: mean)")
    ax.grid(alpha=0.3, axis="y")
    if "supernet_ap" in rows[0]:
        right = ax.twinx()
        right.plot(range(len(rows)), [r["supernet_ap"] for r in rows], "D", color="tab:green", label="supernet AP")
        right.set_ylabel("supernet AP (green diamonds)", color="tab:green")
        if "kendall_tau" in result:
            right.legend([f"supernet AP; Kendall tau {result['kendall_tau']['value']:+.2f}"], fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args):
    out = os.path.abspath(args.output_dir)
    os.makedirs(out, exist_ok=True)
    seeds = list(range(args.seeds))
    archs = resolve_archs(args.archs, args.space)
    backend = studies.backend_from_args(args, out)
    standalone_args = studies.standalone_args(args.standalone_args)
    if backend.kind == "local" and not standalone_args:
        raise studies.StudyError("the local backend needs --standalone-args")
    # The architectures are chosen, not searched: the FLOPs window just has to hold them all.
    flops = [count_flops(args.space, a) for a in archs]
    space = studies.space_opts(args.space, f"{max(flops) / 1e6 + 0.001:.3f}M", f"{min(flops) / 1e6 - 0.001:.3f}M", 0)
    supernet = None
    if args.supernet_args or (backend.kind == "rabbitmq" and args.with_supernet):
        supernet = studies.run_step(
            os.path.join(out, "supernet_scores"),
            [*space, *studies.fixed_list_opts(archs)],
            shlex.split(args.supernet_args),
            backend,
            f"{args.experiment}-supernet",
            args.progress_bar,
        )
    standalone = studies.run_standalone_step(
        os.path.join(out, "standalone"),
        [*space, *studies.fixed_list_opts(archs), "MASTER.TASK_TIMEOUT_S", str(float(args.task_timeout_s))],
        standalone_args,
        seeds,
        backend,
        f"{args.experiment}-standalone",
        args.progress_bar,
    )
    result = analyse(archs, standalone, seeds, supernet, args.bootstrap)
    result["command"] = " ".join(shlex.quote(a) for a in sys.argv)
    write_json_atomic(os.path.join(out, "arch_spread.json"), result)
    plot(os.path.join(out, "arch_spread.png"), result)
    print_report(result, out)
    return result


def print_report(result, out):
    a, spread = result["anova"], result["spread"]
    print(f"\nstand-alone AP of {len(result['archs'])} architectures x {len(result['seeds'])} seeds")
    with_supernet = "supernet_ap" in result["archs"][0]
    supernet_head = f" {'supernet AP':>11}" if with_supernet else ""
    print(f"  {'architecture':<24} {'FLOPs':>6}{supernet_head} {'mean AP':>8}  per seed")
    for r in result["archs"]:
        per_seed = " ".join(f"{v:.4f}" for v in r["standalone_ap_per_seed"].values())
        supernet = f" {r['supernet_ap']:>11.4f}" if with_supernet else ""
        print(f"  {r['name']:<24} {r['flops'] / 1e6:>5.0f}M{supernet} {r['standalone_ap']:>8.4f}  {per_seed}")
    print(f"  one-way ANOVA: F({a['df'][0]}, {a['df'][1]}) = {_f_text(a, 3)}, p = {a['p_value']:.4g}")
    print(
        f"  sd of the architectures' expected AP (net of seed noise) {a['arch_effect_sd']:.4f}; "
        f"seed to seed {a['seed_sd']:.4f}; sd of the means {spread['arch_sd']:.4f}"
    )
    if "kendall_tau" in result:
        tau, rho = result["kendall_tau"], result["spearman_rho"]
        print(
            f"  supernet vs stand-alone: Kendall tau {tau['value']:+.3f} (p = {tau['p_value']:.4f}), "
            f"Spearman rho {rho['value']:+.3f} (p = {rho['p_value']:.4f})"
        )
    print(f"\nwrote {out}/arch_spread.json and arch_spread.png")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", required=True)
    p.add_argument(
        "--standalone-args",
        default="",
        help="server arguments of the standalone evaluator (one string, without --seeds)",
    )
    p.add_argument(
        "--supernet-args",
        default="",
        help="server arguments of a supernet evaluator: also score the architectures by the supernet",
    )
    p.add_argument(
        "--with-supernet",
        action="store_true",
        help="rabbitmq backend: also score by the supernet servers of EXPERIMENT-supernet",
    )
    p.add_argument(
        "--archs",
        nargs="+",
        default=["uniform"],
        help="digit strings, released names, or 'uniform' (one choice everywhere; the default)",
    )
    p.add_argument("--seeds", type=int, default=2, help="stand-alone training seeds per architecture (2)")
    p.add_argument("--space", default="300M", help="search space preset (SPACE.SIZE)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of the rank correlation")
    studies.add_backend_arguments(p, "spread", task_timeout=True)
    args = p.parse_args(argv)
    if args.seeds < 2:
        p.error("need --seeds >= 2: seed noise is what the architectures are compared against")
    return args


def main(argv=None):
    return studies.run_cli(parse_args(argv), run, "arch_spread.log")


if __name__ == "__main__":
    sys.exit(main())
