#!/usr/bin/env python
"""Which block choices, stage by stage, go with retrained AP, which with the supernet's score, and
what the evolution's and random search's picks hold of them.

    python tools/block_effects.py --retrained DIR [DIR ...] [--studies DIR [DIR ...]] \\
        [--skip-uniform] [--space 300M] [--output block_effects.json]

When the evolution's pick retrains worse than random search's (tools/compare_search.py
--retrain-args), this says what it climbed. ``--retrained``: folders of stand-alone steps of one
recipe (a study's ``retrain/`` or ``standalone/``; their ``search_results.json``), pooled by
architecture. For each stage and choice, the share of the stage's blocks holding that choice is
rank-correlated with the retrained AP (Kendall tau and its p-value, scipy.stats). ``--studies``:
tools/compare_search.py output folders; for each, the same tau with the supernet score over every
candidate its runs scored, and the mean number of blocks of each choice per stage in each seed's best
found and best random architecture. The pooled architectures are the ones the studies chose, not a
sample of the space: read the figures as a description of those picks.
"""

import argparse
import glob
import os
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from scipy import stats  # noqa: E402

from distributed_arch_search import studies  # noqa: E402
from distributed_arch_search.report import RESULTS_NAME, write_json_atomic  # noqa: E402
from maskrcnn_benchmark.nas.search_space import CHOICE_NAMES, get_search_space  # noqa: E402

SHORT = {"shufflenet_3x3": "3x3", "shufflenet_5x5": "5x5", "shufflenet_7x7": "7x7", "xception_3x3": "Xc"}


def stage_bounds(space):
    """[(first block, end)] of each stage, from the space's stage ends."""
    ends = [e + 1 for e in space.stage_ends]
    return list(zip([0, *ends[:-1]], ends))


def choice_counts(arch, bounds):
    """[stage][choice] -> number of blocks of that choice in that stage."""
    return [[sum(arch[i] == str(c) for i in range(s, e)) for c in range(len(CHOICE_NAMES))] for s, e in bounds]


def taus(archs, values, bounds):
    """[stage][choice] -> {"tau", "p_value"} of the stage's share of the choice against `values`."""
    counts = [choice_counts(a, bounds) for a in archs]
    out = []
    for k, (s, e) in enumerate(bounds):
        row = []
        for c in range(len(CHOICE_NAMES)):
            share = [cnt[k][c] / (e - s) for cnt in counts]
            t = stats.kendalltau(share, values)
            row.append({"tau": _finite(t.statistic), "p_value": _finite(t.pvalue)})
        out.append(row)
    return out


def _finite(v):
    v = float(v)
    return v if v == v else None  # a constant share has no tau


def retrained_aps(folders, skip_uniform):
    """arch -> retrained mean AP over the stand-alone steps in `folders` (one recipe)."""
    aps = {}
    for folder in folders:
        summary = studies.read_results(folder)
        if summary is None:
            raise studies.StudyError(f"{folder}: no {RESULTS_NAME} (a stand-alone step's folder?)")
        for r in studies.ok_results(summary):
            if not any(k.startswith("ap_seed") for k in r["metrics"]):
                raise studies.StudyError(f"{folder}: {r['arch']} has no per-seed AP; not a stand-alone step")
            if aps.setdefault(r["arch"], r["ap"]) != r["ap"]:
                raise studies.StudyError(
                    f"{folder}: {r['arch']} retrained to {r['ap']} here and {aps[r['arch']]} elsewhere; "
                    f"are these folders of one recipe?"
                )
    if skip_uniform:
        aps = {a: v for a, v in aps.items() if len(set(a)) > 1}
    if len(aps) < 3:
        raise studies.StudyError(f"{len(aps)} retrained architectures in {folders}; need at least 3")
    return aps


def study_figures(folder, bounds):
    """Supernet-score taus over every candidate of the study's runs, and the picks' block counts."""
    scores, picks = {}, {"evolution": [], "random": []}
    for path in sorted(glob.glob(os.path.join(folder, "*_seed*", RESULTS_NAME))):
        arm = os.path.basename(os.path.dirname(path)).split("_seed")[0]
        if arm not in picks:
            continue
        summary = studies.read_results(os.path.dirname(path))
        for r in studies.ok_results(summary):
            scores.setdefault(r["arch"], r["ap"])
        picks[arm].append(summary["best"]["arch"])
    if not picks["evolution"] or len(picks["evolution"]) != len(picks["random"]):
        raise studies.StudyError(f"{folder}: expected evolution_seed*/ and random_seed*/ runs in equal number")
    archs = sorted(scores)
    mean_counts = {
        arm: [
            [statistics.fmean(col) for col in zip(*stage)] for stage in zip(*[choice_counts(a, bounds) for a in arms])
        ]
        for arm, arms in picks.items()
    }
    return {
        "folder": folder,
        "num_scored": len(archs),
        "supernet_score_tau": taus(archs, [scores[a] for a in archs], bounds),
        "picks": picks,
        "mean_blocks_in_picks": mean_counts,
    }


def analyse(retrained_folders, study_folders, skip_uniform, size):
    bounds = stage_bounds(get_search_space(size))
    aps = retrained_aps(retrained_folders, skip_uniform)
    archs = sorted(aps)
    return {
        "stages": [e - s for s, e in bounds],
        "choices": list(CHOICE_NAMES),
        "retrained": {"archs": {a: aps[a] for a in archs}, "tau": taus(archs, [aps[a] for a in archs], bounds)},
        "studies": [study_figures(f, bounds) for f in study_folders],
    }


def print_report(result):
    names = [SHORT[c] for c in result["choices"]]
    head = "  ".join(f"{'st' + str(k + 1) + ':' + n:>9}" for k in range(len(result["stages"])) for n in names)

    def tau_row(label, table):
        cells = [f"{c['tau']:+9.2f}" if c["tau"] is not None else f"{'-':>9}" for row in table for c in row]
        print(f"  {label:<28}" + "  ".join(cells))

    r = result["retrained"]
    print(f"block choice per stage (share of the stage's blocks), Kendall tau with: ({len(r['archs'])} retrained)")
    print(f"  {'':<28}" + head)
    tau_row("retrained AP", r["tau"])
    print(
        f"  {'  p-value':<28}"
        + "  ".join(
            f"{c['p_value']:9.3f}" if c["p_value"] is not None else f"{'-':>9}" for row in r["tau"] for c in row
        )
    )
    for s in result["studies"]:
        tau_row(f"score, {os.path.basename(s['folder'].rstrip('/'))} ({s['num_scored']})", s["supernet_score_tau"])
    if result["studies"]:
        print("\nmean blocks of each choice per stage in each seed's best (evolution / random):")
        print(f"  {'':<28}" + head)
        for s in result["studies"]:
            m = s["mean_blocks_in_picks"]
            cells = [f"{e:4.1f}/{x:<4.1f}" for se, sx in zip(m["evolution"], m["random"]) for e, x in zip(se, sx)]
            print(f"  {os.path.basename(s['folder'].rstrip('/')):<28}" + "  ".join(f"{c:>9}" for c in cells))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--retrained", nargs="+", required=True, help="stand-alone step folders of one recipe")
    p.add_argument("--studies", nargs="*", default=[], help="tools/compare_search.py output folders")
    p.add_argument("--skip-uniform", action="store_true", help="leave out one-choice architectures")
    p.add_argument("--space", default="300M")
    p.add_argument("--output", default="", help="write every figure to this JSON file")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        result = analyse(args.retrained, args.studies, args.skip_uniform, args.space)
    except studies.StudyError as e:
        print(f"block_effects: {e}", file=sys.stderr)
        return 2
    print_report(result)
    if args.output:
        write_json_atomic(args.output, result)
        print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
