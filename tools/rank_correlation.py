#!/usr/bin/env python
"""Does the supernet rank architectures as stand-alone training does? Kendall tau with its interval.

    python tools/rank_correlation.py --output-dir output/rank \\
        --supernet-args "--evaluator detector --config-file SEARCH_CFG --weights SUPERNET.pth" \\
        --standalone-args "--evaluator standalone --config-file RETRAIN_CFG --pretrain-args '...'" \\
        [--num-sampled 40] [--num-archs 10] [--seeds 2] [--workers 2]

1. sample: ``--num-sampled`` random architectures under the FLOPs limit, each scored by the supernet
   evaluator (one search generation without mutation or crossover; folder ``supernet_scores/``).
2. choose ``--num-archs`` of them spread evenly over the range of supernet scores (equal rank steps).
3. train each stand-alone with ``--seeds`` seeds (the standalone evaluator: pre-training and detection
   training as a user runs them; folder ``standalone/``), architectures in parallel on the servers.
4. report Kendall tau and Spearman rho between supernet score and mean stand-alone AP (bootstrap
   intervals, p-values), the seed-to-seed against the architecture-to-architecture standard deviation,
   ``rank_correlation.json`` (every raw figure) and ``rank_correlation.png``.

Resumable: run the same command again after a kill; every finished (architecture, seed) training is in
the score cache (``--score-cache``, default ``OUTPUT_DIR/scores``) and is never run twice.
With ``--amqp-url`` the candidates go through RabbitMQ instead: start servers for the two experiments
``<experiment>-supernet`` and ``<experiment>-standalone`` with the two evaluators' arguments, the
standalone ones with ``--seeds 0 1 ...`` and all with one ``--score-cache`` on a shared file system.
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

logger = logging.getLogger("rank_correlation")


def choose_spread(scored, num):
    """`num` of the (arch, score) pairs at equal rank steps from the lowest to the highest score."""
    ranked = sorted(scored, key=lambda r: (r[1], r[0]))
    if num > len(ranked):
        raise studies.StudyError(f"--num-archs {num} exceeds the {len(ranked)} scored architectures")
    if num == 1:
        return [ranked[-1]]
    return [ranked[round(i * (len(ranked) - 1) / (num - 1))] for i in range(num)]


def analyse(sampled, chosen, standalone, seeds, n_resamples, seed):
    rows = studies.standalone_rows(standalone, [arch for arch, _ in chosen], seeds)
    for row, (_, score) in zip(rows, chosen):
        row["supernet_ap"] = score
    for name, values in (
        ("supernet", [r["supernet_ap"] for r in rows]),
        ("stand-alone", [r["standalone_ap"] for r in rows]),
    ):
        if len(set(values)) == 1:
            raise studies.StudyError(
                f"every chosen architecture has the same {name} AP ({values[0]:.4f}): there is "
                f"no ranking to compare (a supernet or recipe trained too briefly to detect?)"
            )
    corr = search_stats.rank_correlation(
        [r["supernet_ap"] for r in rows], [r["standalone_ap"] for r in rows], n_resamples=n_resamples, seed=seed
    )
    spread = search_stats.seed_vs_arch_spread([list(r["standalone_ap_per_seed"].values()) for r in rows])
    return {
        "num_sampled": len(sampled),
        "num_archs": len(rows),
        "seeds": list(seeds),
        **corr,
        "spread": spread,
        "archs": rows,
        "sampled": [{"arch": r["arch"], "flops": r["flops"], "supernet_ap": r["ap"]} for r in sampled],
    }


def plot(path, result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["archs"]
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    xs = [r["supernet_ap"] for r in rows]
    for r in rows:
        per_seed = list(r["standalone_ap_per_seed"].values())
        ax.vlines(r["supernet_ap"], min(per_seed), max(per_seed), color="tab:blue", alpha=0.5)
        ax.scatter([r["supernet_ap"]] * len(per_seed), per_seed, s=12, color="tab:blue", alpha=0.5)
    ax.scatter(
        xs,
        [r["standalone_ap"] for r in rows],
        s=40,
        color="tab:red",
        zorder=3,
        label="mean over seeds (bars: range of seeds)",
    )
    tau, rho = result["kendall_tau"], result["spearman_rho"]
    ax.set_title(
        f"Kendall tau {tau['value']:.2f} [{tau['ci'][0]:.2f}, {tau['ci'][1]:.2f}], p={tau['p_value']:.3f}; "
        f"Spearman rho {rho['value']:.2f}\n{result['num_archs']} architectures x "
        f"{len(result['seeds'])} seeds",
        fontsize=9,
    )
    ax.set_xlabel("supernet AP (inherited weights, BN recalibrated)")
    ax.set_ylabel("stand-alone AP (pre-trained and trained alone)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args):
    out = os.path.abspath(args.output_dir)
    os.makedirs(out, exist_ok=True)
    seeds = list(range(args.seeds))
    backend = studies.backend_from_args(args, out)
    space = studies.space_opts(args.space, args.max_flops, args.min_flops, args.seed)
    supernet_args = shlex.split(args.supernet_args)
    standalone_args = studies.standalone_args(args.standalone_args)
    if backend.kind == "local" and not (supernet_args and standalone_args):
        raise studies.StudyError("the local backend needs --supernet-args and --standalone-args")

    sampled_run = studies.run_step(
        os.path.join(out, "supernet_scores"),
        [*space, *studies.sample_opts(args.num_sampled)],
        supernet_args,
        backend,
        f"{args.experiment}-supernet",
        args.progress_bar,
    )
    sampled = studies.ok_results(sampled_run)
    chosen = choose_spread([(r["arch"], r["ap"]) for r in sampled], args.num_archs)
    logger.info(
        "chose %d of %d architectures, supernet AP %.4f .. %.4f", len(chosen), len(sampled), chosen[0][1], chosen[-1][1]
    )
    standalone = studies.run_standalone_step(
        os.path.join(out, "standalone"),
        [
            *space,
            *studies.fixed_list_opts([a for a, _ in chosen]),
            "MASTER.TASK_TIMEOUT_S",
            str(float(args.task_timeout_s)),
        ],
        standalone_args,
        seeds,
        backend,
        f"{args.experiment}-standalone",
        args.progress_bar,
    )
    result = analyse(sampled, chosen, standalone, seeds, args.bootstrap, args.seed)
    result["command"] = " ".join(shlex.quote(a) for a in sys.argv)
    write_json_atomic(os.path.join(out, "rank_correlation.json"), result)
    plot(os.path.join(out, "rank_correlation.png"), result)
    print_report(result, out)
    return result


def print_report(result, out):
    tau, rho, spread = result["kendall_tau"], result["spearman_rho"], result["spread"]
    pct = round(100 * result["confidence"])
    print(
        f"\nsupernet ranking vs stand-alone training: {result['num_archs']} architectures (of "
        f"{result['num_sampled']} sampled) x {len(result['seeds'])} seeds"
    )
    print(
        f"  Kendall tau   {tau['value']:+.3f}  {pct}% CI [{tau['ci'][0]:+.3f}, {tau['ci'][1]:+.3f}]  "
        f"p = {tau['p_value']:.4f}"
    )
    print(
        f"  Spearman rho  {rho['value']:+.3f}  {pct}% CI [{rho['ci'][0]:+.3f}, {rho['ci'][1]:+.3f}]  "
        f"p = {rho['p_value']:.4f}"
    )
    seed_sd = "-" if spread["seed_sd"] is None else f"{spread['seed_sd']:.4f}"
    print(f"  stand-alone AP sd: seed to seed {seed_sd}, architecture to architecture {spread['arch_sd']:.4f}")
    print(f"  {'arch':<22} {'supernet AP':>11} {'stand-alone AP':>14}  per seed")
    for r in result["archs"]:
        per_seed = " ".join(f"{v:.4f}" for v in r["standalone_ap_per_seed"].values())
        print(f"  {r['arch']:<22} {r['supernet_ap']:>11.4f} {r['standalone_ap']:>14.4f}  {per_seed}")
    print(f"\nwrote {out}/rank_correlation.json and rank_correlation.png")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", required=True)
    p.add_argument("--supernet-args", default="", help="server arguments of the supernet evaluator (one string)")
    p.add_argument(
        "--standalone-args",
        default="",
        help="server arguments of the standalone evaluator (one string, without --seeds)",
    )
    p.add_argument("--num-sampled", type=int, default=40, help="architectures scored by the supernet (40)")
    p.add_argument("--num-archs", type=int, default=10, help="of them trained stand-alone (10)")
    p.add_argument("--seeds", type=int, default=2, help="stand-alone training seeds per architecture (2)")
    p.add_argument("--space", default="300M", help="search space preset (SPACE.SIZE)")
    p.add_argument("--max-flops", default="300M")
    p.add_argument("--min-flops", default="")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of the bootstrap")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (2000)")
    studies.add_backend_arguments(p, "rank", task_timeout=True)
    args = p.parse_args(argv)
    if args.num_archs < 3 or args.num_sampled < args.num_archs or args.seeds < 1:
        p.error("need --num-archs >= 3, --num-sampled >= --num-archs and --seeds >= 1")
    return args


def main(argv=None):
    return studies.run_cli(parse_args(argv), run, "rank_correlation.log")


if __name__ == "__main__":
    sys.exit(main())
