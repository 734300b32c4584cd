"""What a server does with one task, whatever the transport: evaluate, time, log, build the result.

Every server has an id (host, pid, GPU) and a scratch folder of its own under the output folder, so
several servers on one machine never share files. ``evaluations.jsonl`` in that folder logs a "start"
and a "finish" line per evaluation (flushed at once), which is also how the tests check that no
finished architecture was evaluated again. With ``--score-cache DIR`` and an evaluator that states a
fingerprint, a score already in the cache is returned without evaluating (a "cached" line).
"""

import json
import logging
import os
import re
import socket
import time
import traceback

from . import messages
from .evaluators import EVALUATORS, check_metrics
from .score_cache import ScoreCache

logger = logging.getLogger(__name__)


def server_identity(gpu, pid=None):
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"
    device = f"gpu{gpu}" if gpu is not None and gpu >= 0 else "cpu"
    return f"{host}-{pid if pid is not None else os.getpid()}-{device}"


def server_scratch_dir(output_dir, server_id):
    path = os.path.join(output_dir, "servers", server_id)
    os.makedirs(path, exist_ok=True)
    return path


def device_of(gpu):
    return f"cuda:{gpu}" if gpu is not None and gpu >= 0 else "cpu"


def make_evaluator(args, scratch_dir):
    """Build the evaluator named by args.evaluator and run its setup() once."""
    evaluator = EVALUATORS[args.evaluator](args, device_of(args.gpu), scratch_dir)
    evaluator.setup()
    return evaluator


def make_runner(args, scratch_dir, server_id):
    """The evaluator of the server's command line, set up, with its score cache if one is named."""
    cache = ScoreCache(args.score_cache) if getattr(args, "score_cache", "") else None
    runner = EvaluationRunner(make_evaluator(args, scratch_dir), server_id, scratch_dir, cache)
    runner.evaluator_name = args.evaluator  # results say which evaluator made them
    return runner


class EvaluationRunner:
    evaluator_name = ""

    def __init__(self, evaluator, server_id, scratch_dir, cache=None):
        self.evaluator = evaluator
        self.server_id = server_id
        self.log_path = os.path.join(scratch_dir, "evaluations.jsonl")
        self._log = open(self.log_path, "a", encoding="utf-8")
        self.fingerprint = evaluator.fingerprint() if cache is not None else None
        self.cache = cache if self.fingerprint else None
        if hasattr(evaluator, "score_cache"):  # an evaluator that caches parts of its work itself
            evaluator.score_cache = cache
        if cache is not None and not self.fingerprint:
            logger.warning("evaluator %s states no fingerprint: its scores are not cached", type(evaluator).__name__)

    def run(self, task):
        """Evaluate the task's architecture; return a result message. Never raises."""
        if self.cache is not None:
            cached = self.cache.get(self.fingerprint, task["arch"])
            if cached is not None:
                self._write("cached", task, status="ok", seconds=0.0)
                return messages.result_message(task, self.server_id, cached, None, 0.0, evaluator=self.evaluator_name)
        arch = tuple(int(c) for c in task["arch"])
        self._write("start", task)
        start = time.monotonic()
        try:
            metrics, error = check_metrics(self.evaluator.evaluate(arch)), None
        except Exception as e:  # any failure of one candidate is reported, the server serves on
            metrics, error = None, f"{type(e).__name__}: {e}"
            logger.error("evaluation of %s failed:\n%s", task["arch"], traceback.format_exc())
        seconds = time.monotonic() - start
        self._write("finish", task, status="ok" if error is None else "error", seconds=seconds)
        result = messages.result_message(task, self.server_id, metrics, error, seconds, evaluator=self.evaluator_name)
        try:  # e.g. an AP outside [0, 1]: the master would reject the result, so report why instead
            messages.validate(result)
        except messages.MessageError as e:
            error = f"the evaluator's result is not valid: {e}"
            result = messages.result_message(task, self.server_id, None, error, seconds, evaluator=self.evaluator_name)
        if error is None and self.cache is not None:
            self.cache.put(self.fingerprint, task["arch"], metrics, seconds, self.server_id)
        return result

    def _write(self, event, task, **extra):
        line = dict(
            event=event,
            arch=task["arch"],
            task_id=task["task_id"],
            attempt=task["attempt"],
            server_id=self.server_id,
            time=time.time(),
            **extra,
        )
        self._log.write(json.dumps(line) + "\n")
        self._log.flush()


def read_evaluation_logs(output_dir):
    """All lines of all servers' evaluations.jsonl under output_dir (for tests and post-mortems)."""
    lines = []
    root = os.path.join(output_dir, "servers")
    for server in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        path = os.path.join(root, server, "evaluations.jsonl")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                lines.extend(json.loads(line) for line in f if line.endswith("\n"))
    return lines
