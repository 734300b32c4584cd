#!/usr/bin/env python
"""Evolutionary search against random search at an equal number of evaluations, over several seeds.

    python tools/compare_search.py --output-dir output/compare --seeds 3 \\
        --server-args "--evaluator detector --config-file SEARCH_CFG --weights SUPERNET.pth" \\
        [--population 8] [--generations 6] [--workers 2]

Per seed s: ``evolution_seed<s>/`` and ``random_seed<s>/`` (no mutation, no crossover; the same
generation 0), each a complete search with its own search_results.json. Reports the mean and standard
deviation over seeds of the best AP, the top-k mean and the last generation's median, a one-sided
Mann-Whitney U test (evolution > random) on the candidates of the last quarter of the budget, and
``comparison.png`` (best-so-far against evaluations). ``comparison.json`` holds every figure.
Resumable; with a shared ``--score-cache`` (default ``OUTPUT_DIR/scores``) nothing is evaluated twice.
With ``--amqp-url`` the runs go one after another through the servers of ``--experiment``.

Search-val AP is the supernet's judgement. ``--retrain-args`` (the standalone evaluator's server
arguments, without --seeds) also trains each seed's best found and best random architecture
stand-alone with ``--retrain-seeds`` seeds (folder ``retrain/``, architectures in parallel on the
servers; through RabbitMQ with ``--with-retrain``: the standalone servers of EXPERIMENT-standalone,
started with --seeds 0 1 ...) and reports the pairs, their differences and a one-sided Wilcoxon
signed-rank test, plus ``retrained.png``.
"""

import argparse
import os
import shlex
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from distributed_arch_search import search_comparison, studies  # noqa: E402
from distributed_arch_search.report import write_json_atomic  # noqa: E402


def run(args):
    out = os.path.abspath(args.output_dir)
    os.makedirs(out, exist_ok=True)
    server_args = shlex.split(args.server_args)
    backend = studies.backend_from_args(args, out)
    if backend.kind == "local" and not server_args:
        raise studies.StudyError("the local backend needs --server-args naming the evaluator")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs = {arm: {} for arm in search_comparison.ARMS}
    for seed in seeds:
        for arm in search_comparison.ARMS:
            opts = [
                *studies.space_opts(args.space, args.max_flops, args.min_flops, seed),
                *search_comparison.arm_opts(
                    arm,
                    args.population,
                    args.generations,
                    args.parents,
                    args.mutants,
                    args.crossovers,
                    args.mutation_prob,
                    args.top_k,
                ),
            ]
            runs[arm][seed] = studies.run_step(
                search_comparison.run_folder(out, arm, seed),
                opts,
                server_args,
                backend,
                args.experiment,
                args.progress_bar,
            )
    comparison = search_comparison.compare(runs, args.top_k)
    comparison["evaluator"] = _evaluator_name(server_args)
    if args.retrain_args or (backend.kind == "rabbitmq" and args.with_retrain):
        comparison["retrained"] = retrain_bests(args, out, backend, comparison)
    comparison["command"] = " ".join(shlex.quote(a) for a in sys.argv)
    write_json_atomic(os.path.join(out, "comparison.json"), comparison)
    title = f"evaluator: {comparison['evaluator']}" if comparison["evaluator"] else ""
    search_comparison.plot(os.path.join(out, "comparison.png"), comparison, title)
    if "retrained" in comparison:
        search_comparison.plot_retrained(os.path.join(out, "retrained.png"), comparison, title)
    print("\n" + search_comparison.format_table(comparison))
    print(f"\nwrote {out}/comparison.json and comparison.png; raw results in {out}/*_seed*/search_results.json")
    return comparison


def retrain_bests(args, out, backend, comparison):
    """Each seed's best found and best random architecture trained stand-alone (one step, every
    architecture once); the pairs' figures."""
    retrain_args = studies.standalone_args(args.retrain_args, "--retrain-args", "--retrain-seeds K")
    seeds = list(range(args.retrain_seeds))
    archs = list(dict.fromkeys(a for _, found, rand in search_comparison.best_pairs(comparison) for a in (found, rand)))
    standalone = studies.run_standalone_step(
        os.path.join(out, "retrain"),
        [
            *studies.space_opts(args.space, args.max_flops, args.min_flops),
            *studies.fixed_list_opts(archs),
            "MASTER.TASK_TIMEOUT_S",
            str(float(args.task_timeout_s)),
        ],
        retrain_args,
        seeds,
        backend,
        f"{args.experiment}-standalone",
        args.progress_bar,
    )
    return search_comparison.retrained(comparison, studies.standalone_rows(standalone, archs, seeds))


def _evaluator_name(server_args):
    if "--evaluator" in server_args[:-1]:
        return server_args[server_args.index("--evaluator") + 1]
    return ""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", required=True)
    p.add_argument("--server-args", default="", help="evaluation server arguments (one string; local backend)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per arm (3)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--generations", type=int, default=6)
    p.add_argument("--parents", type=int, default=4)
    p.add_argument("--mutants", type=int, default=3)
    p.add_argument("--crossovers", type=int, default=3)
    p.add_argument("--mutation-prob", type=float, default=0.1)
    p.add_argument("--top-k", type=int, default=4, help="k of the top-k mean (4)")
    p.add_argument("--space", default="300M")
    p.add_argument("--max-flops", default="300M")
    p.add_argument("--min-flops", default="")
    p.add_argument(
        "--retrain-args",
        default="",
        help="server arguments of the standalone evaluator (one string, without --seeds): also retrain "
        "each seed's best found and best random architecture",
    )
    p.add_argument(
        "--with-retrain",
        action="store_true",
        help="rabbitmq backend: retrain them on the standalone servers of EXPERIMENT-standalone",
    )
    p.add_argument("--retrain-seeds", type=int, default=2, help="stand-alone training seeds per architecture (2)")
    studies.add_backend_arguments(p, "compare", task_timeout=True)
    args = p.parse_args(argv)
    if args.seeds < 2:
        p.error("--seeds must be >= 2 (a comparison over one seed has no spread)")
    if args.retrain_seeds < 1:
        p.error("--retrain-seeds must be >= 1")
    return args


def main(argv=None):
    return studies.run_cli(parse_args(argv), run, "compare_search.log")


if __name__ == "__main__":
    sys.exit(main())
