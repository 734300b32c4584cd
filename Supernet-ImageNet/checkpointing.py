"""The training state of a Supernet-ImageNet run: OUTPUT_DIR/checkpoint_last.pth.

Written and restored through maskrcnn_benchmark's Checkpointer (atomic write; strict restore of
model, optimizer and scheduler). The file holds `model`, `optimizer`, `scheduler`, `iteration` and
`meta` (checkpoint_meta, plus Checkpointer's `format_version`).
"""

import os

import maskrcnn_benchmark
from maskrcnn_benchmark.nas import CHANNEL_SPLIT, arch_to_str
from maskrcnn_benchmark.utils import comm
from maskrcnn_benchmark.utils.checkpoint import Checkpointer, check_resume_meta, load_file

from export import CHECKPOINT_KIND

LAST_CHECKPOINT_NAME = "checkpoint_last"
LAST_CHECKPOINT = LAST_CHECKPOINT_NAME + ".pth"

# What must match for --resume to continue a run (the rest, e.g. total_iters, may change).
RESUME_KEYS = ("mode", "size", "arch", "channel_split", "num_classes", "norm", "last_channels")


def checkpoint_meta(args, num_classes):
    return {
        "kind": CHECKPOINT_KIND,
        "mode": args.mode,
        "size": args.size,
        "arch": "supernet" if args.mode == "supernet" else arch_to_str(args.arch),
        "channel_split": CHANNEL_SPLIT,
        "num_classes": num_classes,
        "norm": args.norm,
        "last_channels": args.last_channels,
        "input_size": args.input_size,
        "total_iters": args.total_iters,
        "code_version": maskrcnn_benchmark.__version__,
    }


def resume_path(args):
    if args.resume is None:
        return None
    path = os.path.join(args.output_dir, LAST_CHECKPOINT) if args.resume == "auto" else args.resume
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    return path


def read_resume_checkpoint(args):
    """(path, checkpoint dict) that --resume names, or (None, None) for a new run. A new run never
    starts over an existing one."""
    path = resume_path(args)
    if path is None:
        last = os.path.join(args.output_dir, LAST_CHECKPOINT)
        if os.path.exists(last):
            raise FileExistsError(f"{last} exists: pass --resume to continue it, or choose another --output-dir")
        return None, None
    return path, load_file(path)


class RunCheckpoint:
    """Saves (rank 0 writes, every rank waits) and restores OUTPUT_DIR/checkpoint_last.pth."""

    def __init__(self, model, optimizer, scheduler, meta, output_dir, logger):
        # Checkpointer's own messages go to its module logger, so the run's log reads as before
        self.checkpointer = Checkpointer(
            model, optimizer, scheduler, save_dir=output_dir, save_to_disk=comm.is_main_process(), meta=meta
        )
        self.path = os.path.join(output_dir, LAST_CHECKPOINT)
        self.logger = logger

    @property
    def meta(self):
        return self.checkpointer.meta

    def save(self, iteration):
        if self.checkpointer.save(LAST_CHECKPOINT_NAME, iteration=iteration):
            self.logger.info("checkpoint %s (iteration %d)", self.path, iteration)
        comm.synchronize()

    def restore(self, path, checkpoint):
        """Continue from `checkpoint`, the dict read from `path`; returns its iteration."""
        saved = checkpoint.get("meta", {})
        check_resume_meta(path, saved, self.meta, RESUME_KEYS)
        if saved.get("total_iters") != self.meta["total_iters"]:
            self.logger.warning(
                "resuming a run planned for %s iterations with --total-iters %d: the "
                "learning rate follows the new length",
                saved.get("total_iters"),
                self.meta["total_iters"],
            )
        iteration = int(self.checkpointer.resume(path, checkpoint)["iteration"])
        self.logger.info("resumed from %s at iteration %d", path, iteration)
        return iteration
