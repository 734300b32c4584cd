"""A deterministic stand-in evaluator for tests and benchmarks of the search machinery.

Its "AP" is a fixed random linear model over the one-hot genes plus a term that grows with the choice
indices (larger DetNAS choices cost more FLOPs), squashed into (0, 0.5) by ``0.5 * sigmoid``. Its results
carry the metric ``synthetic: 1``, so a search scored by it says so. It is the same for every server
with the same ``--synthetic-seed``, so results can be compared across runs.
``--delay`` makes each evaluation take that many seconds; ``--fail-pattern`` makes every architecture
whose digit string matches the regular expression raise, to exercise the failure path;
``--kill-pattern`` makes the evaluation of a matching architecture kill its own server process
(SIGKILL), as a crashing evaluation would.
"""

import math
import os
import random
import re
import signal
import time

from ..score_cache import fingerprint
from .base import EVALUATORS, Evaluator
from maskrcnn_benchmark.nas.arch import arch_to_str

MAX_CHOICES = 10  # digit-string encoding


@EVALUATORS.register("synthetic")
class SyntheticEvaluator(Evaluator):
    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--delay", type=float, default=0.0, help="seconds each evaluation takes (default 0)")
        parser.add_argument(
            "--synthetic-seed", type=int, default=0, help="seed of the fixed random linear model (default 0)"
        )
        parser.add_argument(
            "--flops-weight",
            type=float,
            default=0.5,
            help="weight of the larger-choices-score-higher term (default 0.5)",
        )
        parser.add_argument(
            "--fail-pattern",
            default="",
            help="regular expression: architectures whose digit string matches it "
            "always fail (re.search; default: none)",
        )
        parser.add_argument(
            "--kill-pattern",
            default="",
            help="regular expression: evaluating a matching architecture kills the server "
            "process with SIGKILL, after --delay (default: none)",
        )

    def __init__(self, args, device, scratch_dir):
        super().__init__(args, device, scratch_dir)
        if args.delay < 0:
            raise ValueError(f"--delay must be >= 0, got {args.delay}")
        self.delay = args.delay
        self.seed = args.synthetic_seed
        self.flops_weight = args.flops_weight
        self.fail_pattern = re.compile(args.fail_pattern) if args.fail_pattern else None
        kill = getattr(args, "kill_pattern", "")  # (callers that build args by hand may omit it)
        self.kill_pattern = re.compile(kill) if kill else None
        self._weights = []  # per block: MAX_CHOICES weights, drawn on first use

    def _block_weights(self, i):
        while len(self._weights) <= i:
            rng = random.Random(f"synthetic:{self.seed}:{len(self._weights)}")
            self._weights.append([rng.gauss(0.0, 1.0) for _ in range(MAX_CHOICES)])
        return self._weights[i]

    def score(self, arch):
        n = len(arch)
        linear = sum(self._block_weights(i)[c] for i, c in enumerate(arch)) / math.sqrt(n)
        size_term = self.flops_weight * (sum(arch) / n - 1.5)
        return 0.5 / (1.0 + math.exp(-(linear + size_term)))

    def fingerprint(self):
        return fingerprint("synthetic", self.seed, self.flops_weight)

    def evaluate(self, arch):
        if any(not 0 <= c < MAX_CHOICES for c in arch):
            raise ValueError(f"choices must be 0..{MAX_CHOICES - 1}, got {arch}")
        key = arch_to_str(arch)
        if self.delay:
            time.sleep(self.delay)
        if self.kill_pattern is not None and self.kill_pattern.search(key):
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fail_pattern is not None and self.fail_pattern.search(key):
            raise RuntimeError(f"synthetic failure: {key} matches --fail-pattern {self.fail_pattern.pattern!r}")
        # "synthetic" marks the result: the master labels such a search in its results and plot.
        return {"ap": self.score(arch), "synthetic": 1.0}
