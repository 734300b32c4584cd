"""Shared pieces of the end-to-end tests: the subprocess runner and the tiny training schedule (a
module of its own, not conftest, so that test folders run together do not import each other's)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_tool(args, datasets_root, timeout=300, env_extra=None):
    """Run a repo command (list of args after the interpreter) with the datasets root set; returns
    the completed process, raising with its output when it failed."""
    env = dict(
        os.environ,
        DETNAS_DATASETS=datasets_root,
        OMP_NUM_THREADS="1",
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


# Overrides that make any quick config tiny: 64 px images, few proposals and RoIs.
TINY = [
    "INPUT.MIN_SIZE_TRAIN",
    "(64,)",
    "INPUT.MAX_SIZE_TRAIN",
    96,
    "INPUT.MIN_SIZE_TEST",
    64,
    "INPUT.MAX_SIZE_TEST",
    96,
    "DATALOADER.NUM_WORKERS",
    0,
    "SOLVER.WARMUP_ITERS",
    2,
    "SOLVER.CHECKPOINT_PERIOD",
    2,
    "SOLVER.LOG_PERIOD",
    1,
    "MODEL.RPN.PRE_NMS_TOP_N_TRAIN",
    100,
    "MODEL.RPN.POST_NMS_TOP_N_TRAIN",
    50,
    "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN",
    50,
    "MODEL.RPN.PRE_NMS_TOP_N_TEST",
    100,
    "MODEL.RPN.POST_NMS_TOP_N_TEST",
    50,
    "MODEL.RPN.FPN_POST_NMS_TOP_N_TEST",
    50,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
    16,
    "TEST.IMS_PER_BATCH",
    2,
]


def as_args(opts):
    return [str(o) for o in opts]
