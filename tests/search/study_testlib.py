"""Helpers of the study tests (test_studies.py, test_arch_spread.py): the quick configs made tiny,
and the tools run as a user runs them."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEARCH_CONFIG = "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_search_shapes.yaml"
RETRAIN_CONFIG = "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_shapes.yaml"
SMALL = [
    "INPUT.MIN_SIZE_TRAIN",
    "(64,)",
    "INPUT.MAX_SIZE_TRAIN",
    "64",
    "INPUT.MIN_SIZE_TEST",
    "64",
    "INPUT.MAX_SIZE_TEST",
    "64",
    "DATALOADER.NUM_WORKERS",
    "0",
    "TEST.IMS_PER_BATCH",
    "4",
    "MODEL.RPN.PRE_NMS_TOP_N_TEST",
    "100",
    "MODEL.RPN.POST_NMS_TOP_N_TEST",
    "50",
    "MODEL.RPN.FPN_POST_NMS_TOP_N_TEST",
    "50",
    "NAS.BN_RECAL_IMAGES",
    "8",
    "NAS.BN_RECAL_BATCH",
    "4",
]
TRAIN = [
    "SOLVER.IMS_PER_BATCH",
    "4",
    "SOLVER.BASE_LR",
    "0.02",
    "SOLVER.WARMUP_ITERS",
    "2",
    "SOLVER.CHECKPOINT_PERIOD",
    "1000",
    "MODEL.RPN.PRE_NMS_TOP_N_TRAIN",
    "100",
    "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN",
    "50",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
    "16",
]


def study_env(datasets=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if datasets:
        env["DETNAS_DATASETS"] = datasets
    return env


def run_tool(args, datasets=None, timeout=900):
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=study_env(datasets), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def read_results(folder):
    return json.loads((folder / "search_results.json").read_text())
