"""Training curves: one JSON line per record in RUN_DIR/metrics.jsonl and TensorBoard events in
RUN_DIR/tensorboard/, written together by `MetricsWriter`.

    writer = MetricsWriter(run_dir, enabled=is_main_process(), start_step=resumed_iteration)
    writer.write(20, loss=0.7, lr=0.02, time=0.31)   # {"iteration": 20, "loss": 0.7, ...}
    writer.close()

Numbers (nested dicts flattened to "a/b") become TensorBoard scalars; anything else JSON can hold
goes to the jsonl only. A writer resumed at `start_step` first drops the records after that step, so
a restarted run never leaves two curves on top of each other. `tools/plot_metrics.py` draws the
jsonl without TensorBoard.
"""

import json
import logging
import math
import os
import resource

import torch

from maskrcnn_benchmark.utils.atomic_file import atomic_write_text

FILENAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"

logger = logging.getLogger(__name__)


def _scalars(values, prefix=""):
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _scalars(value, name + "/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            yield name, float(value)


def read_metrics(path):
    """The records of a metrics.jsonl (or of RUN_DIR/metrics.jsonl), in file order."""
    if os.path.isdir(path):
        path = os.path.join(path, FILENAME)
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def peak_memory_mb(device):
    """Peak memory of this process so far: CUDA allocations on a GPU, resident set size on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class MetricsWriter:
    """Append records to RUN_DIR/metrics.jsonl and RUN_DIR/tensorboard/.

    `enabled=False` (every rank but the main one) makes every call a no-op. `step_key` names the
    step in the jsonl ("iteration" for training, e.g. "candidate" for a search). `tensorboard=False`
    writes the jsonl only.
    """

    def __init__(
        self, run_dir, *, enabled=True, start_step=None, step_key="iteration", tensorboard=True, filename=FILENAME
    ):
        self.enabled = bool(enabled and run_dir)
        self.step_key = step_key
        self.path = os.path.join(run_dir, filename) if run_dir else ""
        self._tb = None
        if not self.enabled:
            return
        os.makedirs(run_dir, exist_ok=True)
        if start_step is not None and os.path.isfile(self.path):
            self._truncate_after(start_step)
        self._file = open(self.path, "a")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:  # tensorboard is in requirements.txt; keep training without it
                logger.warning("no TensorBoard events (%s); writing %s only", e, self.path)
            else:
                self._tb = SummaryWriter(log_dir=os.path.join(run_dir, TENSORBOARD_DIR), purge_step=start_step)

    def _truncate_after(self, step):
        kept = [r for r in read_metrics(self.path) if r.get(self.step_key, -math.inf) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, step, **values):
        """Record `values` at `step`; returns the record (None when disabled)."""
        if not self.enabled:
            return None
        record = {self.step_key: step, **values}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for name, value in _scalars(values):
                self._tb.add_scalar(name, value, step)
            self._tb.flush()
        return record

    def close(self):
        if not self.enabled:
            return
        self._file.close()
        if self._tb is not None:
            self._tb.close()
        self.enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
