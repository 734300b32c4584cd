"""The evaluator interface of the search servers and the registry that selects one by name.

An evaluator scores one architecture. The server builds it once from its command line, calls
``setup()`` once (load weights, build data loaders), then ``evaluate(arch)`` per task::

    @EVALUATORS.register("my-evaluator")
    class MyEvaluator(Evaluator):
        @classmethod
        def add_arguments(cls, parser):          # options of this evaluator only
            parser.add_argument("--weights", required=True)

        def __init__(self, args, device, scratch_dir):
            super().__init__(args, device, scratch_dir)
            self.weights = args.weights

        def setup(self):
            ...                                  # once per server process

        def evaluate(self, arch):
            ...                                  # arch: tuple of ints, one per block
            return {"ap": 0.31, "ap50": 0.52}    # "ap" is required; all values finite numbers

Any exception from ``evaluate`` is a failed attempt: the server reports the error text, the master
counts it and re-issues the candidate until its failure limit. The class must be importable in a fresh
process (the local backend starts evaluators with multiprocessing "spawn"), so register it in a module
imported by ``distributed_arch_search.evaluators``.
"""

import abc
import math

from maskrcnn_benchmark.utils.registry import Registry

EVALUATORS = Registry("evaluator")


class EvaluationError(RuntimeError):
    """An evaluator returned something that is not a valid metrics dict."""


class Evaluator(abc.ABC):
    def __init__(self, args, device, scratch_dir):
        # args: the parsed server command line; device: "cpu" or "cuda:N"; scratch_dir: a folder of
        # this server alone (several servers may share a machine and an output folder).
        self.args = args
        self.device = device
        self.scratch_dir = scratch_dir

    @classmethod
    def add_arguments(cls, parser):
        """Add this evaluator's command-line options to `parser` (an argparse argument group)."""

    def setup(self):
        """Prepare once per server, before the first evaluate()."""

    def fingerprint(self):
        """A hash of everything the score depends on (see score_cache.fingerprint), called after
        setup(); None (the default) when scores must not be cached, e.g. a non-deterministic
        evaluator. Two evaluators with equal fingerprints must give equal scores to an architecture."""
        return None

    @abc.abstractmethod
    def evaluate(self, arch):
        """Score `arch` (tuple of ints); return a dict with at least "ap" (finite float)."""


def check_metrics(metrics):
    """Return `metrics` as a dict of floats, or raise EvaluationError saying what is wrong."""
    if not isinstance(metrics, dict) or "ap" not in metrics:
        raise EvaluationError(f"evaluate() must return a dict with 'ap', got {metrics!r:.200}")
    out = {}
    for k, v in metrics.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = float("nan")
        if not isinstance(k, str) or not math.isfinite(f):
            raise EvaluationError(f"evaluate() returned a non-finite or non-numeric metric {k!r}: {v!r}")
        out[k] = f
    return out
