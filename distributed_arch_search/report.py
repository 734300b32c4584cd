"""Files a search leaves behind: the atomic checkpoint, search_results.json, best_arch.yaml and
search_progress.png."""

from maskrcnn_benchmark.utils.atomic_file import atomic_savefig, atomic_write_json


def write_json_atomic(path, obj):
    """The search's JSON files: indented, strict JSON (no NaN), written atomically."""
    atomic_write_json(path, obj, indent=1, sort_keys=False, allow_nan=False)


def write_best_arch_yaml(path, arch, note=""):
    # Quoted: an unquoted digit string would be read back as an int and lose leading zeros.
    with open(path, "w", encoding="utf-8") as f:
        if note:
            f.write(f"# {note}\n")
        f.write(f"# Best architecture of the search; merge with --config-file or copy the value.\n"
                f"MODEL:\n  BACKBONE:\n    ARCH: \"{arch}\"\n")


def plot_progress(path, generation_stats, results, max_flops, min_flops=None, top_k=10, title=""):
    """Two panels: best and top-k mean AP per generation; AP against FLOPs of every evaluated
    candidate, coloured by generation, with the FLOPs limits drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    gens = [s["generation"] for s in generation_stats]
    ax1.plot(gens, [s["best_ap"] for s in generation_stats], "o-", label="best so far")
    ax1.plot(gens, [s["top_k_mean_ap"] for s in generation_stats], "s--",
             label=f"mean of the top {top_k} so far")
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
        sc = ax2.scatter([r["flops"] / 1e6 for r in ok], [r["ap"] for r in ok],
                         c=[r["generation"] for r in ok], cmap=cmap, norm=norm, s=18, alpha=0.85,
                         label="candidate (colour: generation)")
        bar = fig.colorbar(sc, ax=ax2, label="generation")
        bar.set_ticks(range(0, last + 1, max(1, (last + 1) // 10)))
        best = max(ok, key=lambda r: (r["ap"], r["arch"]))
        ax2.scatter([best["flops"] / 1e6], [best["ap"]], marker="*", s=250, c="red",
                    edgecolors="black", label=f"best ({best['ap']:.3f} AP)", zorder=3)
    ax2.axvline(max_flops / 1e6, color="red", linestyle="--", label=f"FLOPs limit ({max_flops / 1e6:g} M)")
    if min_flops:
        ax2.axvline(min_flops / 1e6, color="orange", linestyle=":",
                    label=f"lower FLOPs limit ({min_flops / 1e6:g} M)")
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
