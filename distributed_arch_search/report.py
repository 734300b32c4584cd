"""Files a search leaves behind: the atomic checkpoint, search_results.json, best_arch.yaml,
search_progress.png and the curves; and the summaries they hold."""

import json
import logging
import os
import time

from maskrcnn_benchmark.nas.arch import arch_to_str
from maskrcnn_benchmark.utils.atomic_file import atomic_savefig, atomic_write_json

from .arch_search_config import SearchConfigError

logger = logging.getLogger("distributed_arch_search.search")

CHECKPOINT_NAME = "search_checkpoint.json"
CHECKPOINT_VERSION = 1
RESULTS_NAME = "search_results.json"
PLOT_NAME = "search_progress.png"
BEST_ARCH_NAME = "best_arch.yaml"


def write_json_atomic(path, obj):
    """The search's JSON files: indented, strict JSON (no NaN), written atomically."""
    atomic_write_json(path, obj, indent=1, sort_keys=False, allow_nan=False)


def read_checkpoint(path, experiment):
    """The state a search saved in `path`, checked to be of this version and this experiment."""
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    if state.get("version") != CHECKPOINT_VERSION:
        raise SearchConfigError(
            f"{path}: checkpoint version {state.get('version')!r} is not supported (expected {CHECKPOINT_VERSION})"
        )
    if state["experiment"] != experiment:
        raise SearchConfigError(f"{path} belongs to experiment {state['experiment']!r}, not {experiment!r}")
    return state


def write_best_arch_yaml(path, arch, note=""):
    # Quoted: an unquoted digit string would be read back as an int and lose leading zeros.
    with open(path, "w", encoding="utf-8") as f:
        if note:
            f.write(f"# {note}\n")
        f.write(
            f"# Best architecture of the search; merge with --config-file or copy the value.\n"
            f'MODEL:\n  BACKBONE:\n    ARCH: "{arch}"\n'
        )


def plot_progress(path, generation_stats, results, max_flops, min_flops=None, top_k=10, title=""):
    """Two panels: best and top-k mean AP per generation; AP against FLOPs of every evaluated
    candidate, coloured by generation, with the FLOPs limits drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    gens = [s["generation"] for s in generation_stats]
    ax1.plot(gens, [s["best_ap"] for s in generation_stats], "o-", label="best so far")
    ax1.plot(gens, [s["top_k_mean_ap"] for s in generation_stats], "s--", label=f"mean of the top {top_k} so far")
    ax1.set_xlabel("generation")
    ax1.set_ylabel("AP (fraction, 0-1)")
    ax1.set_title("Search progress")
    if gens:
        ax1.set_xticks(range(0, max(gens) + 1, max(1, (max(gens) + 1) // 10)))
    ax1.grid(True, alpha=0.3)
    ax1.legend(loc="lower right")

    ok = [r for r in results if r["status"] == "ok"]
    failed = len(results) - len(ok)
    if ok:
        last = max(r["generation"] for r in ok)
        # One colour per generation, integer ticks on the colour bar.
        cmap = plt.get_cmap("viridis", last + 1)
        norm = matplotlib.colors.BoundaryNorm([g - 0.5 for g in range(last + 2)], cmap.N)
        sc = ax2.scatter(
            [r["flops"] / 1e6 for r in ok],
            [r["ap"] for r in ok],
            c=[r["generation"] for r in ok],
            cmap=cmap,
            norm=norm,
            s=18,
            alpha=0.85,
            label="candidate (colour: generation)",
        )
        bar = fig.colorbar(sc, ax=ax2, label="generation")
        bar.set_ticks(range(0, last + 1, max(1, (last + 1) // 10)))
        best = max(ok, key=lambda r: (r["ap"], r["arch"]))
        ax2.scatter(
            [best["flops"] / 1e6],
            [best["ap"]],
            marker="*",
            s=250,
            c="red",
            edgecolors="black",
            label=f"best ({best['ap']:.3f} AP)",
            zorder=3,
        )
    ax2.axvline(max_flops / 1e6, color="red", linestyle="--", label=f"FLOPs limit ({max_flops / 1e6:g} M)")
    if min_flops:
        ax2.axvline(min_flops / 1e6, color="orange", linestyle=":", label=f"lower FLOPs limit ({min_flops / 1e6:g} M)")
    ax2.set_xlabel("FLOPs (millions)")
    ax2.set_ylabel("AP (fraction, 0-1)")
    ax2.set_title(f"All candidates: {len(ok)} evaluated" + (f", {failed} failed (not shown)" if failed else ""))
    ax2.grid(True, alpha=0.3)
    ax2.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    try:
        atomic_savefig(fig, path, dpi=110)
    finally:
        plt.close(fig)


class SearchCurves:
    """The search's metrics.jsonl and TensorBoard events (OUTPUT_DIR/metrics.jsonl, tensorboard/): one
    record per candidate that became final, numbered in that order, with its AP and the best so far.
    A resumed search continues the numbering and drops records written after its checkpoint."""

    def __init__(self, output_dir, results):
        from maskrcnn_benchmark.utils.metrics_writer import MetricsWriter

        self.count = len(results)
        self.best = max((r["ap"] for r in results if r["status"] == "ok"), default=None)
        self.writer = MetricsWriter(output_dir, step_key="candidate", start_step=self.count)

    def add(self, record):
        self.count += 1
        values = {"generation": record["generation"], "flops": record["flops"], "status": record["status"]}
        if record["status"] == "ok":
            self.best = record["ap"] if self.best is None else max(self.best, record["ap"])
            values["ap"] = record["ap"]
        if self.best is not None:
            values["best_ap"] = self.best
        self.writer.write(self.count, arch=record["arch"], **values)

    def close(self):
        self.writer.close()


def generation_summary(generation, results, top, elapsed_s):
    """The line of search_results.json's "generations" for a generation that is complete: its counts,
    and the best and top-k mean AP so far (`top`: [(arch, ap)], best first)."""
    in_gen = [r for r in results if r["generation"] == generation]
    return {
        "generation": generation,
        "evaluated": sum(r["status"] == "ok" for r in in_gen),
        "failed": sum(r["status"] == "failed" for r in in_gen),
        "best_ap": top[0][1] if top else None,
        "top_k_mean_ap": sum(s for _, s in top) / len(top) if top else None,
        "best_arch": arch_to_str(top[0][0]) if top else None,
        "elapsed_s": round(elapsed_s, 3),
    }


def evaluators_of(results):
    return sorted({r.get("evaluator") for r in results if r.get("evaluator")})


def synthetic_label(results):
    synthetic = "synthetic" in evaluators_of(results)
    return " (SYNTHETIC evaluator: made-up AP, not a real search)" if synthetic else ""


def search_summary(settings, results, generation_stats, *, finished, exhausted, duplicates_ignored, elapsed_s):
    """search_results.json: every final candidate once, in evaluation order, the top-k and the best."""
    records = sorted(results, key=lambda r: (r["generation"], r["finished_at"]))
    ok = [r for r in records if r["status"] == "ok"]
    top = sorted(ok, key=lambda r: (-r["ap"], r["arch"]))[: settings.top_k]
    best = top[0] if top else None
    evaluators = evaluators_of(records)
    return {
        "schema_version": 1,
        "experiment": settings.experiment,
        "finished": finished,
        # Which evaluators scored the candidates; "synthetic" means the AP values are made up.
        "evaluators": evaluators,
        "synthetic": "synthetic" in evaluators,
        "search_space_exhausted": exhausted,
        "space": settings.space.summary(),
        "evolution": settings.evolution.to_dict(),
        "num_evaluated": len(ok),
        "num_failed": len(records) - len(ok),
        "duplicates_ignored": duplicates_ignored,
        "elapsed_s": elapsed_s,
        "generations": generation_stats,
        "results": records,
        "top_k": top,
        "best": None
        if best is None
        else {
            "arch": best["arch"],
            "ap": best["ap"],
            "flops": best["flops"],
            "config_key": "MODEL.BACKBONE.ARCH",
            "override": f"MODEL.BACKBONE.ARCH {best['arch']}",
        },
    }


def plot_search(settings, generation_stats, results):
    stats = [s for s in generation_stats if s["best_ap"] is not None]
    try:
        plot_progress(
            os.path.join(settings.output_dir, PLOT_NAME),
            stats,
            results,
            settings.evolution.max_flops,
            settings.evolution.min_flops,
            settings.top_k,
            title=f"DetNAS search {settings.experiment}" + synthetic_label(results),
        )
    except Exception:  # a plot must never stop a search
        logger.exception("could not draw %s", PLOT_NAME)


def write_search_outputs(settings, summary):
    """search_results.json, the plot and best_arch.yaml; the best override is also printed on stdout."""
    write_json_atomic(os.path.join(settings.output_dir, RESULTS_NAME), summary)
    plot_search(settings, summary["generations"], summary["results"])
    best = summary["best"]
    if best is not None:
        write_best_arch_yaml(
            os.path.join(settings.output_dir, BEST_ARCH_NAME),
            best["arch"],
            note=synthetic_label(summary["results"]).strip(" ()"),
        )
        logger.info("best architecture %s: AP %.4f, %.1f MFLOPs", best["arch"], best["ap"], best["flops"] / 1e6)
        print(f"MODEL.BACKBONE.ARCH {best['arch']}", flush=True)
    else:
        logger.error("no candidate was evaluated successfully")
    logger.info("wrote %s, %s, %s to %s", RESULTS_NAME, PLOT_NAME, BEST_ARCH_NAME, settings.output_dir)


def final_record(key, status, message, attempts, generation, flops):
    """A candidate's line of the results: the result message `message` (None for a failure) and the
    master's record of its attempts ({"starts", "errors", "servers"})."""
    m = message
    return {
        "arch": key,
        "generation": generation,
        "flops": flops,
        "status": status,
        "ap": m["metrics"]["ap"] if m else None,
        "metrics": m["metrics"] if m else {},
        "server_id": m["server_id"] if m else (attempts["servers"][-1] if attempts["servers"] else None),
        "seconds": m["seconds"] if m else None,
        "attempts": max(attempts["starts"], 1),
        "evaluator": m["evaluator"] if m else None,
        "errors": list(attempts["errors"]),
        "finished_at": time.time(),
    }
