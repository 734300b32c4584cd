"""Scores already measured, so that no (evaluator, architecture) pair is ever evaluated twice.

An evaluator that is deterministic states a *fingerprint*: a hash of everything its score depends on
(weights file contents, resolved config, data, device kind, seed). A score is then a pure function of
(fingerprint, arch), and the servers keep every score they measure in ``scores.jsonl`` under a cache
folder (``--score-cache DIR``) shared by all servers of all searches that point at it. A repeated
architecture, a second seed of a search, the random-search baseline, a resumed ranking run or a task
redelivered after a broker restart then costs a file lookup instead of an evaluation.

One JSON object per line, appended under an exclusive ``flock`` and fsynced; a line cut short by a
crash is skipped with a warning. Lines are validated like messages: only finite numbers enter.
"""

import fcntl
import hashlib
import json
import logging
import math
import os
import time

logger = logging.getLogger(__name__)

CACHE_FILE = "scores.jsonl"
# Bump when a change of the evaluation code changes scores: old entries then stop matching.
EVALUATION_CODE_VERSION = 1


def fingerprint(*parts):
    """sha256 over the JSON of `parts` (strings, numbers, lists, dicts) and the code version."""
    blob = json.dumps([EVALUATION_CODE_VERSION, *parts], sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


def file_digest(path, chunk=1 << 20):
    """sha256 of a file's contents (weights, annotation files)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class ScoreCache:
    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, CACHE_FILE)
        self._entries = {}  # (fingerprint, arch) -> metrics
        self._offset = 0  # bytes of the file already read

    def get(self, fp, arch):
        """The metrics stored for (fingerprint, arch), or None."""
        key = (fp, arch)
        if key not in self._entries:
            self._read_new_lines()
        metrics = self._entries.get(key)
        return dict(metrics) if metrics is not None else None

    def put(self, fp, arch, metrics, seconds, server_id=""):
        line = (
            json.dumps(
                {
                    "fingerprint": fp,
                    "arch": arch,
                    "metrics": metrics,
                    "seconds": float(seconds),
                    "server_id": server_id,
                    "time": time.time(),
                },
                sort_keys=True,
                allow_nan=False,
            )
            + "\n"
        )
        with open(self.path, "a", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        self._entries.setdefault((fp, arch), dict(metrics))

    def __len__(self):
        self._read_new_lines()
        return len(self._entries)

    def _read_new_lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a last line without its newline is still being written
        skipped = 0
        for raw in data[:end].splitlines():
            entry = _parse_line(raw)
            if entry is None:
                skipped += 1
                continue
            self._entries.setdefault((entry["fingerprint"], entry["arch"]), entry["metrics"])
        if skipped:
            logger.warning("%s: skipped %d unreadable lines", self.path, skipped)
        self._offset += end


def _parse_line(raw):
    try:
        entry = json.loads(raw.decode("utf-8"), parse_constant=_refuse)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("fingerprint"), str)
        and isinstance(entry.get("arch"), str)
        and entry["arch"].isdigit()
        and isinstance(entry.get("metrics"), dict)
        and "ap" in entry["metrics"]
    ):
        return None
    for v in entry["metrics"].values():
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
            return None
    return entry


def _refuse(name):
    raise ValueError(name)
