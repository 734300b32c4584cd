"""Stand-alone training of one architecture, K seeds: the ground truth the supernet's ranking is
measured against (tools/rank_correlation.py), and the demo's retraining of the architectures found.

Per seed, the project's own tools run as subprocesses in the server's scratch folder, as a user would
run them: optionally the classification pre-training of the fixed architecture
(``Supernet-ImageNet/train.py --mode fixed`` with ``--pretrain-args``), then detection training and
testing (``tools/train_net.py --config-file`` with ``MODEL.BACKBONE.ARCH``, ``SEED`` and the
pre-trained weights). The metrics are the bbox AP of DATASETS.TEST[0] per seed and their mean::

    {"ap": mean, "ap_seed0": ..., "ap_seed1": ..., "seconds_seed0": ..., ...}

A trained (architecture, seed) is kept in the score cache as soon as it is measured (its own
fingerprint includes the seed), so a killed ranking run never trains it again. Seeds of one
architecture run one after another on one server; architectures run in parallel on the servers.
"""

import json
import logging
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

from ..score_cache import fingerprint
from .base import EVALUATORS, Evaluator
from .digests import config_datasets_digest
from maskrcnn_benchmark.nas.arch import arch_to_str

logger = logging.getLogger(__name__)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TrainingFailed(RuntimeError):
    pass


@EVALUATORS.register("standalone")
class StandaloneEvaluator(Evaluator):
    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument(
            "--config-file", required=True, help="detection config of a fixed architecture (e.g. a *_shapes.yaml)"
        )
        parser.add_argument(
            "--seeds", type=int, nargs="+", default=[0], help="training seeds per architecture (default: 0)"
        )
        parser.add_argument(
            "--pretrain-args",
            default="",
            help="Supernet-ImageNet/train.py arguments of the classification "
            "pre-training (quoted, one string); --mode fixed, --arch, --seed, "
            "--output-dir and --export are added. Empty: no pre-training",
        )
        parser.add_argument(
            "--keep-outputs",
            action="store_true",
            help="keep each training's folder (default: deleted after its AP is read)",
        )
        parser.add_argument(
            "--opts",
            nargs="*",
            default=[],
            metavar="KEY VALUE",
            help="detection config overrides, e.g. --opts SOLVER.MAX_ITER 700",
        )

    def __init__(self, args, device, scratch_dir):
        super().__init__(args, device, scratch_dir)
        if len(set(args.seeds)) != len(args.seeds):
            raise ValueError(f"--seeds must be distinct, got {args.seeds}")
        if len(args.opts) % 2:
            raise ValueError(f"--opts must be KEY VALUE pairs, got {args.opts}")
        self.pretrain_args = shlex.split(args.pretrain_args)
        for flag in ("--mode", "--arch", "--seed", "--output-dir", "--export"):
            if flag in self.pretrain_args:
                raise ValueError(f"--pretrain-args must not contain {flag} (the evaluator sets it)")
        self.score_cache = None  # set by the runner when the server has --score-cache
        self._base = None

    def setup(self):
        from maskrcnn_benchmark.config import load_config

        cfg = load_config(self.args.config_file, list(self.args.opts) + ["MODEL.DEVICE", "cpu"])
        if not cfg.DATASETS.TEST:
            raise ValueError(f"{self.args.config_file}: DATASETS.TEST must name the split to score on")
        self.test_name = cfg.DATASETS.TEST[0]
        self._base = fingerprint(
            "standalone", cfg.dump(), self.pretrain_args, config_datasets_digest(cfg), _device_kind(self.device)
        )

    def fingerprint(self):
        return fingerprint(self._base, sorted(self.args.seeds))

    def seed_fingerprint(self, seed):
        return fingerprint(self._base, "seed", int(seed))

    def evaluate(self, arch):
        key = arch_to_str(arch)
        metrics = {}
        for seed in self.args.seeds:
            fp = self.seed_fingerprint(seed)
            cached = self.score_cache.get(fp, key) if self.score_cache is not None else None
            if cached is None:
                start = time.monotonic()
                cached = {"ap": self.train_and_test(key, seed)}
                cached["seconds"] = time.monotonic() - start
                if self.score_cache is not None:
                    self.score_cache.put(fp, key, cached, cached["seconds"])
            else:
                logger.info("%s seed %d: stand-alone AP %.4f from the score cache", key, seed, cached["ap"])
            metrics[f"ap_seed{seed}"] = cached["ap"]
            metrics[f"seconds_seed{seed}"] = cached["seconds"]
        aps = [metrics[f"ap_seed{s}"] for s in self.args.seeds]
        metrics["ap"] = statistics.fmean(aps)
        return metrics

    def train_and_test(self, key, seed):
        work = os.path.join(self.scratch_dir, "standalone", f"{key}_seed{seed}")
        os.makedirs(work, exist_ok=True)
        device = "cuda" if self.device.startswith("cuda") else "cpu"
        weight_opts = []
        if self.pretrain_args:
            export = os.path.join(work, "backbone.pth")
            if not os.path.exists(export):
                self._run(
                    "pretrain",
                    work,
                    [
                        "Supernet-ImageNet/train.py",
                        *self.pretrain_args,
                        "--mode",
                        "fixed",
                        "--arch",
                        key,
                        "--seed",
                        str(seed),
                        "--device",
                        device,
                        "--output-dir",
                        os.path.join(work, "pretrain"),
                        "--export",
                        export,
                    ],
                )
            weight_opts = ["MODEL.WEIGHT", export]
        out = os.path.join(work, "detection")
        self._run(
            "detection",
            work,
            [
                "tools/train_net.py",
                "--config-file",
                self.args.config_file,
                *self.args.opts,
                "MODEL.BACKBONE.ARCH",
                key,
                "SEED",
                str(seed),
                "OUTPUT_DIR",
                out,
                "MODEL.DEVICE",
                device,
                *weight_opts,
            ],
        )
        path = os.path.join(out, "inference", self.test_name, "metrics.json")
        try:
            with open(path) as f:
                ap = float(json.load(f)["bbox"]["AP"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise TrainingFailed(f"{key} seed {seed}: no bbox AP in {path}: {e}") from None
        logger.info("%s seed %d: stand-alone AP %.4f", key, seed, ap)
        if not self.args.keep_outputs:
            shutil.rmtree(work, ignore_errors=True)
        return ap

    def _run(self, name, work, argv):
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if self.device.startswith("cuda:"):
            env["CUDA_VISIBLE_DEVICES"] = self.device.split(":", 1)[1]
        log_path = os.path.join(work, f"{name}.log")
        with open(log_path, "ab") as log:
            code = subprocess.call(
                [sys.executable, *argv],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        if code != 0:
            with open(log_path, "rb") as f:
                tail = f.read()[-2000:].decode(errors="replace")
            raise TrainingFailed(f"{name} training exited with {code}; log {log_path}:\n{tail}")


def _die_with_parent():
    """In the training's child process: SIGTERM when the server dies, so a killed server leaves no
    training running on (Linux prctl PR_SET_PDEATHSIG; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _device_kind(device):
    return "cuda" if str(device).startswith("cuda") else "cpu"
