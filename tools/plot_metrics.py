#!/usr/bin/env python
"""Loss and learning-rate curves of a run, without TensorBoard:

    python tools/plot_metrics.py RUN_DIR [--output RUN_DIR/metrics.png]

RUN_DIR holds the metrics.jsonl that tools/train_net.py and Supernet-ImageNet/train.py write (one
record per log period). Left: every loss (keys starting with "loss") against the iteration; right:
the learning rate.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from maskrcnn_benchmark.utils.metrics_writer import FILENAME, read_metrics  # noqa: E402


def curves(records, step_key="iteration"):
    """{name: ([steps], [values])} of the loss* and lr series; a step logged twice keeps its last
    value (a resumed run)."""
    series = {}
    for r in records:
        if step_key not in r:
            continue
        for k, v in r.items():
            if (k.startswith("loss") or k == "lr") and isinstance(v, (int, float)):
                series.setdefault(k, {})[r[step_key]] = float(v)
    return {k: (sorted(d), [d[s] for s in sorted(d)]) for k, d in series.items()}


def plot(run_dir, output=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = os.path.join(run_dir, FILENAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no {FILENAME} in {run_dir} (written by tools/train_net.py and Supernet-ImageNet/train.py)"
        )
    series = curves(read_metrics(path))
    losses = {k: v for k, v in series.items() if k.startswith("loss")}
    if not losses:
        raise ValueError(f"{path} has no loss records")
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, (steps, values) in sorted(losses.items()):
        ax_loss.plot(steps, values, label=name, linewidth=2.2 if name == "loss" else 1.2)
    ax_loss.set(xlabel="iteration", ylabel="loss", title="losses")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    if "lr" in series:
        ax_lr.plot(*series["lr"], color="tab:green")
    ax_lr.set(xlabel="iteration", ylabel="learning rate", title="learning rate")
    ax_lr.grid(alpha=0.3)
    fig.suptitle(os.path.basename(os.path.abspath(run_dir)))
    fig.tight_layout()
    output = output or os.path.join(run_dir, "metrics.png")
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--output", default="", help="PNG path (default RUN_DIR/metrics.png)")
    args = parser.parse_args(argv)
    try:
        print(plot(args.run_dir, args.output or None))
    except (OSError, ValueError) as e:
        parser.exit(2, f"error: {e}\n")


if __name__ == "__main__":
    main()
