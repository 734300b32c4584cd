#!/usr/bin/env python
"""How much of a supernet score is noise? The detector evaluator's image-sample and BN-subset noise,
and the supernet training run's own.

    python tools/evaluator_noise.py --output-dir output/noise \\
        --supernet-args "--evaluator detector --config-file SEARCH_CFG --weights SUPERNET.pth" \\
        [--num-archs 16] [--archs uniform ...] [--bn-seeds S0 S1] [--max-flops 300M] \\
        [--other-supernet SUPERNET2.pth]

The search ranks candidates by one number: bbox AP on the search-val split, after BN recalibration on a
seeded subset of the training split. Both are finite samples, so part of the difference between two
candidates belongs to the samples, not to the architectures. For ``--num-archs`` random architectures
under the FLOPs limit, after those ``--archs`` names (digit strings, released names, ``uniform``;
``@FILE`` reads them from FILE, one a line), on one evaluator (the same one the search servers build
from these arguments):

1. image-sample noise: AP on the even and on the odd positions of the split's sorted image ids, with
   BN from the first seed's subset; Kendall tau between the halves (with interval), their Pearson r,
   and the Spearman-Brown reliability of the whole split and of 2x and 4x as many images;
2. BN-subset noise: AP on the whole split with BN recalibrated on the subset of each ``--bn-seeds``
   seed (NAS.BN_RECAL_SEED; default the config's seed and the next); Kendall tau and Pearson r between
   the first two, each subset's mean AP (a shift common to all architectures does not change a
   ranking), and the residual standard deviation that does reorder them against the standard deviation
   over architectures;
3. with ``--other-supernet``, supernet-training noise: the same scores (whole split, first seed's
   subset) from a second supernet trained by the same recipe with another NAS.PATH_SEED, and the same
   figures as in 2 between the two supernets. What one run of supernet training ranks and another
   does not is no property of the architectures.

The first seed's whole-split AP is exactly the score the search gets. Writes ``evaluator_noise.json``
(every raw figure) and ``evaluator_noise.png``. One process; use ``--gpu N`` in the supernet arguments
for a GPU.
"""

import argparse
import logging
import os
import shlex
import sys

from scipy import stats

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from distributed_arch_search import search_stats, studies  # noqa: E402
from distributed_arch_search.report import write_json_atomic  # noqa: E402

logger = logging.getLogger("evaluator_noise")


def sample_archs(size, num, max_flops, seed):
    """`num` distinct random architectures under `max_flops`, drawn as the search draws its random first
    generation (and tools/rank_correlation.py its sample)."""
    from maskrcnn_benchmark.nas.evolution import EvolutionConfig, EvolutionSearch
    from maskrcnn_benchmark.nas.flops import count_flops
    from maskrcnn_benchmark.nas.search_space import get_search_space

    space = get_search_space(size)
    config = EvolutionConfig(
        population_size=num,
        num_generations=1,
        num_parents=1,
        num_mutants=0,
        num_crossovers=0,
        max_flops=max_flops,
        seed=seed,
    )
    return EvolutionSearch(
        space.num_blocks, space.num_choices, lambda a: count_flops(size, a), config
    ).next_generation()


def image_sets(dataset):
    """The split's image ids: all, and those at even and at odd positions of their sorted order."""
    ids = sorted(dataset.get_img_info(i)["id"] for i in range(len(dataset)))
    return {"all": ids, "even": ids[0::2], "odd": ids[1::2]}


def path_scores(evaluator, arch, recal_batches, image_ids):
    """AP of `arch` on each set of `image_ids` ({name: ids}), BN recalibrated on `recal_batches`."""
    from maskrcnn_benchmark.data.datasets.evaluation.coco_eval import (
        evaluate_predictions_on_coco,
        prepare_for_coco_detection,
        resize_to_original,
    )
    from maskrcnn_benchmark.engine.inference import compute_on_dataset
    from maskrcnn_benchmark.engine.supernet import recalibrate_path

    model, device, batches = evaluator.model, evaluator.device, evaluator.test_batches
    recalibrate_path(model, arch, recal_batches, device, progress=False)
    predictions = compute_on_dataset(model, batches, device, arch=arch, progress=False)
    results = prepare_for_coco_detection(resize_to_original(batches.dataset, predictions), batches.dataset)
    backend = evaluator.cfg.TEST.COCO_EVAL_BACKEND
    return {
        name: evaluate_predictions_on_coco(batches.dataset.coco, results, "bbox", ids, backend)[0]["AP"]
        for name, ids in image_ids.items()
    }


def recalibration_sets(evaluator, seeds):
    """{seed: BN recalibration batches}; the evaluator's own subset (kept in memory) for its seed."""
    from maskrcnn_benchmark.engine.supernet import make_bn_recalibration_loader

    sets = {}
    for seed in seeds:
        if seed == evaluator.cfg.NAS.BN_RECAL_SEED:
            sets[seed] = evaluator.recal_batches
        else:
            cfg = evaluator.cfg.clone()
            cfg.defrost()
            cfg.NAS.BN_RECAL_SEED = seed
            sets[seed] = make_bn_recalibration_loader(cfg)
    return sets


def column(rows, bn_seed, part):
    """Every architecture's AP on `part` ("all", "even", "odd") with BN from the `bn_seed` subset."""
    return [r[f"bn_seed{bn_seed}"][part] for r in rows]


def agreement(conditions, n_resamples, seed):
    """How far score lists over the same architectures agree: Kendall tau (with interval) and Pearson r
    between the first two, and over all of them the common shift against the residual that reorders
    the architectures (search_stats.shift_and_reorder)."""
    a, b = conditions[:2]
    return {
        **search_stats.rank_correlation(a, b, n_resamples, seed=seed),
        "pearson_r": float(stats.pearsonr(a, b).statistic),
        "spread": search_stats.shift_and_reorder([list(scores) for scores in zip(*conditions)]),
    }


def analyse(rows, seeds, half_sizes, n_resamples, seed):
    even, odd = column(rows, seeds[0], "even"), column(rows, seeds[0], "odd")
    whole = {s: column(rows, s, "all") for s in seeds}
    other = {}
    if "other_supernet" in rows[0]:
        other["supernets"] = agreement([whole[seeds[0]], [r["other_supernet"] for r in rows]], n_resamples, seed)
    return {
        "num_archs": len(rows),
        "bn_seeds": seeds,
        "image_halves": {
            **search_stats.rank_correlation(even, odd, n_resamples, seed=seed),
            "reliability": search_stats.split_half_reliability(even, odd),
            "half_sizes": half_sizes,
        },
        "bn_subsets": agreement([whole[s] for s in seeds], n_resamples, seed),
        **other,
        "archs": rows,
    }


def plot(path, result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from maskrcnn_benchmark.utils.atomic_file import atomic_savefig

    rows, (s0, s1) = result["archs"], result["bn_seeds"][:2]
    halves, subsets = result["image_halves"], result["bn_subsets"]
    panels = (
        (
            column(rows, s0, "even"),
            column(rows, s0, "odd"),
            f"images at even positions ({halves['half_sizes'][0]})",
            f"images at odd positions ({halves['half_sizes'][1]})",
            f"image halves: tau {halves['kendall_tau']['value']:+.2f}, "
            f"whole-split reliability {halves['reliability']['predicted']['2']:.2f}",
        ),
        (
            column(rows, s0, "all"),
            column(rows, s1, "all"),
            f"BN subset of seed {s0} (the search's score)",
            f"BN subset of seed {s1}",
            f"BN subsets: tau {subsets['kendall_tau']['value']:+.2f}, reordering sd "
            f"{subsets['spread']['reorder_sd']:.4f} vs over archs {subsets['spread']['arch_sd']:.4f}",
        ),
    )
    if "supernets" in result:
        supernets = result["supernets"]
        panels += (
            (
                column(rows, s0, "all"),
                [r["other_supernet"] for r in rows],
                "this supernet (the search's score)",
                "a supernet of another path seed",
                f"supernets: tau {supernets['kendall_tau']['value']:+.2f}, reordering sd "
                f"{supernets['spread']['reorder_sd']:.4f} vs over archs {supernets['spread']['arch_sd']:.4f}",
            ),
        )
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5))
    for ax, (x, y, xlabel, ylabel, title) in zip(axes, panels):
        lo, hi = min(x + y), max(x + y)
        ax.plot([lo, hi], [lo, hi], color="0.7", linewidth=1, label="equal")
        ax.scatter(x, y, color="tab:blue", zorder=3)
        ax.set_xlabel(f"search-val AP, {xlabel}")
        ax.set_ylabel(f"search-val AP, {ylabel}")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"supernet evaluator noise: {len(rows)} architectures", fontsize=11)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def run(args):
    from tqdm import tqdm

    from distributed_arch_search.arch_search_config import parse_flops
    from distributed_arch_search.runner import make_evaluator
    from distributed_arch_search.server_args import parse_server_args
    from maskrcnn_benchmark.nas.arch import arch_to_str, parse_arch
    from maskrcnn_benchmark.nas.flops import count_flops

    named = studies.named_archs(args.archs, args.space)
    sampled = sample_archs(args.space, args.num_archs, parse_flops(args.max_flops), args.seed) if args.num_archs else []
    archs = [*dict.fromkeys([*named, *map(arch_to_str, sampled)])]
    if len(archs) < 3:
        raise studies.StudyError(f"need at least 3 architectures (--archs and --num-archs), got {archs}")
    out = os.path.abspath(args.output_dir)
    os.makedirs(out, exist_ok=True)
    server_args = parse_server_args(shlex.split(args.supernet_args))
    if server_args.evaluator != "detector":
        raise SystemExit(f"--supernet-args must name --evaluator detector, got {server_args.evaluator!r}")
    if len(server_args.weights) > 1:
        raise studies.StudyError(
            f"evaluator_noise measures one supernet; --supernet-args names {len(server_args.weights)} "
            "(--other-supernet names the second)"
        )
    evaluator = make_evaluator(server_args, os.path.join(out, "scratch"))
    other = None
    if args.other_supernet:
        other = make_evaluator(
            argparse.Namespace(**{**vars(server_args), "weights": [args.other_supernet]}), os.path.join(out, "scratch2")
        )
    seeds = args.bn_seeds or [evaluator.cfg.NAS.BN_RECAL_SEED, evaluator.cfg.NAS.BN_RECAL_SEED + 1]
    image_ids = image_sets(evaluator.test_batches.dataset)
    recal = recalibration_sets(evaluator, seeds)
    rows = []
    for key in tqdm(archs, desc="architectures", dynamic_ncols=True, disable=not sys.stderr.isatty()):
        arch = parse_arch(key, args.space)
        row = {"arch": key, "flops": count_flops(args.space, arch)}
        for s in seeds:
            row[f"bn_seed{s}"] = path_scores(evaluator, arch, recal[s], image_ids)
        if other is not None:
            row["other_supernet"] = path_scores(other, arch, recal[seeds[0]], {"all": image_ids["all"]})["all"]
        rows.append(row)
        logger.info("%s: %s", row["arch"], {k: v for k, v in row.items() if k not in ("arch", "flops")})
    path = os.path.join(out, "evaluator_noise.json")
    about = {
        "test_split": evaluator.test_name,
        "other_supernet": args.other_supernet,
        "command": " ".join(shlex.quote(a) for a in sys.argv),
    }
    write_json_atomic(path, {**about, "bn_seeds": seeds, "archs": rows})  # kept if the analysis refuses them
    result = {
        **analyse(rows, seeds, [len(image_ids["even"]), len(image_ids["odd"])], args.bootstrap, args.seed),
        **about,
    }
    write_json_atomic(path, result)
    plot(os.path.join(out, "evaluator_noise.png"), result)
    print_report(result, out)
    return result


def print_report(result, out):
    halves, subsets = result["image_halves"], result["bn_subsets"]
    pct = round(100 * halves["confidence"])
    tau, rel = halves["kendall_tau"], halves["reliability"]
    n_even, n_odd = halves["half_sizes"]
    print(f"\nsupernet evaluator noise on {result['test_split']}: {result['num_archs']} architectures")
    print(
        f"  image halves ({n_even} + {n_odd} images)  Kendall tau {tau['value']:+.3f}  "
        f"{pct}% CI [{tau['ci'][0]:+.3f}, {tau['ci'][1]:+.3f}]  Pearson r {rel['pearson_r']:+.3f}"
    )
    p = rel["predicted"]
    print(f"  reliability (Spearman-Brown)  whole split {p['2']:.3f}, 2x images {p['4']:.3f}, 4x images {p['8']:.3f}")
    s0, s1 = result["bn_seeds"][:2]
    _print_agreement(subsets, pct, f"BN subsets (seeds {s0} vs {s1})", "BN subsets' mean AP", " (a common shift)")
    if "supernets" in result:
        _print_agreement(result["supernets"], pct, "supernets (another path seed)", "supernets' mean AP", "")
    print(f"\nwrote {out}/evaluator_noise.json and evaluator_noise.png")


def _print_agreement(block, pct, title, means_title, shift_note):
    tau, spread = block["kendall_tau"], block["spread"]
    print(
        f"  {title}  Kendall tau {tau['value']:+.3f}  "
        f"{pct}% CI [{tau['ci'][0]:+.3f}, {tau['ci'][1]:+.3f}]  Pearson r {block['pearson_r']:+.3f}"
    )
    means = ", ".join(f"{v:.4f}" for v in spread["condition_means"])
    print(
        f"  {means_title} {means}{shift_note}; sd that reorders architectures "
        f"{spread['reorder_sd']:.4f}, over architectures {spread['arch_sd']:.4f}"
    )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], fromfile_prefix_chars="@")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--supernet-args", required=True, help="server arguments of the detector evaluator (one string)")
    p.add_argument("--num-archs", type=int, default=16, help="random architectures under the FLOPs limit (16)")
    p.add_argument(
        "--archs", nargs="*", default=[], help="architectures scored before the random ones (names, 'uniform', @FILE)"
    )
    p.add_argument(
        "--bn-seeds", type=int, nargs="*", default=[], help="BN subset seeds (default: the config's and the next)"
    )
    p.add_argument(
        "--other-supernet",
        default="",
        help="weights of a second supernet trained by the same recipe with another NAS.PATH_SEED",
    )
    p.add_argument("--space", default="300M", help="search space preset (SPACE.SIZE)")
    p.add_argument("--max-flops", default="300M")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of the bootstrap")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (2000)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.num_archs < 0:
        p.error(f"--num-archs must be >= 0, got {args.num_archs}")
    if args.bn_seeds and (len(args.bn_seeds) < 2 or len(set(args.bn_seeds)) != len(args.bn_seeds)):
        p.error("--bn-seeds needs at least 2 distinct seeds")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    # Three COCO evaluations per architecture and subset; their tables would bury the report.
    logging.getLogger("maskrcnn_benchmark.data.datasets.evaluation").setLevel(logging.WARNING)
    try:
        run(args)
    except studies.StudyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
