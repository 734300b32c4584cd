"""The JSON messages between master and evaluation servers, and their strict validation.

All are JSON objects with ``schema_version`` and ``type``:

* ``task``     master -> server: evaluate ``arch`` (digit string) for ``experiment``; ``attempt`` is
  the master's try number, ``max_attempts`` the most tries a candidate gets (EVOLUTION.MAX_FAILURES).
* ``started``  server -> master: a server took the task and begins evaluating it (``delivery_count``:
  how often the broker had handed this task out before).
* ``progress`` server -> master, every few seconds while evaluating: the server is alive and still
  holds the task (how the master tells a slow candidate from a lost server).
* ``released`` server -> master: a server that was stopped put its unfinished task back in the queue.
* ``result``   server -> master: ``status`` "ok" with ``metrics`` (at least "ap"), or "error" with
  ``error`` text; ``tries`` counts this try and the deliveries lost before it; ``evaluator`` names
  the evaluator that produced it ("synthetic" results are labelled as such in the outputs).
* ``done``     master -> all servers (fanout): the candidate is final; no server evaluates a copy.

The architecture digit string is the identity of a candidate everywhere. Nothing is ever unpickled or
evaluated: a body that is not valid UTF-8 JSON of the expected shape and version raises
``MessageError`` (the server dead-letters such a task, the master dead-letters such a result). That
covers every way a peer can get it wrong: nesting deep enough to exhaust the parser's recursion,
numbers that are not finite or out of their range (times, seconds, AP in [0, 1]), wrong types,
oversized or ill-formed identifiers. ``decode`` raises nothing else.
"""

import json
import math
import re
import time
import uuid

SCHEMA_VERSION = 2  # 2: max_attempts, delivery_count, tries; progress, released, done
MAX_BODY_BYTES = 64 * 1024
MAX_ARCH_LEN = 256
MESSAGE_TYPES = ("task", "started", "progress", "released", "result", "done")
SERVER_MESSAGES = ("started", "progress", "released", "result")
# Identifiers travel into logs, checkpoints and queue names: a small alphabet and bounded lengths.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
MAX_ERROR_CHARS = 16_000
MAX_METRICS = 64
MAX_TIME = 1e11  # seconds since the epoch (year ~5000): anything larger is garbage
MAX_SECONDS = 1e8
MAX_ATTEMPT = 10_000
MAX_METRIC = 1e15  # |value| of any metric; AP itself is a fraction in [0, 1]


class MessageError(ValueError):
    """A message body that is malformed, of an unknown schema version, or of an unexpected type."""


def new_task(experiment, arch, attempt, run_id="", max_attempts=3):
    # The task id starts with the master's run id, so a master can tell its own tasks' results from
    # stale ones of an earlier run of the same experiment name.
    task_id = f"{run_id}.{uuid.uuid4().hex}" if run_id else uuid.uuid4().hex
    return {
        "schema_version": SCHEMA_VERSION,
        "type": "task",
        "experiment": experiment,
        "task_id": task_id,
        "arch": arch,
        "attempt": int(attempt),
        "max_attempts": int(max_attempts),
        "issued_at": time.time(),
    }


def run_of(task_id):
    """The master run a task id belongs to ("" for ids without a run prefix)."""
    return task_id.split(".", 1)[0] if "." in task_id else ""


def started_message(task, server_id, redelivered, delivery_count=0):
    return {
        "schema_version": SCHEMA_VERSION,
        "type": "started",
        "experiment": task["experiment"],
        "task_id": task["task_id"],
        "arch": task["arch"],
        "server_id": server_id,
        "redelivered": bool(redelivered),
        "delivery_count": int(delivery_count),
        "started_at": time.time(),
    }


def server_note(kind, task, server_id):
    """A "progress" or "released" message about `task` from `server_id`."""
    return {
        "schema_version": SCHEMA_VERSION,
        "type": kind,
        "experiment": task["experiment"],
        "task_id": task["task_id"],
        "arch": task["arch"],
        "server_id": server_id,
        "sent_at": time.time(),
    }


def result_message(task, server_id, metrics=None, error=None, seconds=0.0, tries=None, evaluator=""):
    ok = error is None
    return {
        "schema_version": SCHEMA_VERSION,
        "type": "result",
        "experiment": task["experiment"],
        "task_id": task["task_id"],
        "arch": task["arch"],
        "server_id": server_id,
        "evaluator": evaluator,
        "status": "ok" if ok else "error",
        "metrics": dict(metrics or {}) if ok else {},
        "error": None if ok else str(error),
        "seconds": float(seconds),
        "tries": int(tries if tries is not None else task.get("attempt", 1)),
        "finished_at": time.time(),
    }


def done_message(experiment, run_id, arch, status):
    return {
        "schema_version": SCHEMA_VERSION,
        "type": "done",
        "experiment": experiment,
        "task_id": f"{run_id}.done",
        "arch": arch,
        "status": status,
        "sent_at": time.time(),
    }


def encode(message):
    validate(message)
    return json.dumps(message, sort_keys=True, ensure_ascii=True, allow_nan=False).encode("ascii")


def decode(body, expected_types=MESSAGE_TYPES, experiment=None):
    """Parse and validate a message body; raise MessageError saying what is wrong."""
    if not isinstance(body, (bytes, bytearray)):
        raise MessageError(f"message body must be bytes, got {type(body).__name__}")
    if len(body) > MAX_BODY_BYTES:
        raise MessageError(f"message body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    try:
        message = json.loads(bytes(body).decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise MessageError("message body is nested too deeply to parse") from None
    except (UnicodeDecodeError, ValueError) as e:  # ValueError includes over-long integers
        raise MessageError(f"message body is not UTF-8 JSON: {str(e)[:200]}") from None
    try:
        validate(message, expected_types)
    except (TypeError, KeyError, AttributeError, RecursionError) as e:  # a shape validate() missed
        raise MessageError(f"message is malformed: {type(e).__name__}: {str(e)[:200]}") from None
    if experiment is not None and message["experiment"] != experiment:
        raise MessageError(f"message is for experiment {message['experiment']!r}, not {experiment!r}")
    return message


def _refuse_constant(name):
    raise ValueError(f"{name} is not allowed")


_COMMON = {"schema_version": int, "type": str, "experiment": str, "task_id": str, "arch": str}
_FIELDS = {
    "task": {"attempt": int, "max_attempts": int, "issued_at": float},
    "started": {"server_id": str, "redelivered": bool, "delivery_count": int, "started_at": float},
    "progress": {"server_id": str, "sent_at": float},
    "released": {"server_id": str, "sent_at": float},
    "result": {
        "server_id": str,
        "evaluator": str,
        "status": str,
        "metrics": dict,
        "error": (str, type(None)),
        "seconds": float,
        "tries": int,
        "finished_at": float,
    },
    "done": {"status": str, "sent_at": float},
}


def validate(message, expected_types=MESSAGE_TYPES):
    if not isinstance(message, dict):
        raise MessageError(f"message must be a JSON object, got {type(message).__name__}")
    version = message.get("schema_version")
    if version != SCHEMA_VERSION:
        raise MessageError(f"unknown schema_version {version!r} (this code speaks {SCHEMA_VERSION})")
    kind = message.get("type")
    if kind not in expected_types:
        raise MessageError(f"unexpected message type {kind!r}; expected one of {list(expected_types)}")
    fields = dict(_COMMON, **_FIELDS[kind])
    missing = sorted(set(fields) - set(message))
    extra = sorted(set(message) - set(fields))
    if missing or extra:
        raise MessageError(f"{kind} message fields wrong: missing {missing}, unexpected {extra}")
    for name, types in fields.items():
        value = message[name]
        if types is float:
            ok = _is_number(value)
        elif types is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, types)
        if not ok:
            raise MessageError(f"{kind} message field {name!r} has the wrong type: {_short(value)}")
    arch = message["arch"]
    if not (0 < len(arch) <= MAX_ARCH_LEN and arch.isascii() and arch.isdigit()):
        raise MessageError(f"arch must be a digit string of 1..{MAX_ARCH_LEN} digits, got {arch[:40]!r}")
    if not message["experiment"] or not message["task_id"]:
        raise MessageError("experiment and task_id must not be empty")
    for name in ("experiment", "task_id", "server_id", "evaluator"):
        if name == "evaluator" and message.get(name) == "":
            continue  # a result the transport made up for a dead local worker
        if name in message and not NAME_RE.match(message[name]):
            raise MessageError(
                f"{kind} message field {name!r} must be 1-200 letters, digits, '_', '.', "
                f"'-', got {message[name][:40]!r}"
            )
    for name in ("issued_at", "started_at", "finished_at", "sent_at"):
        _check_range(kind, name, message.get(name, 0.0), 0.0, MAX_TIME)
    for name in ("attempt", "max_attempts", "tries"):
        if name in message:
            _check_range(kind, name, message[name], 1, MAX_ATTEMPT)
    if kind == "started":
        _check_range(kind, "delivery_count", message["delivery_count"], 0, MAX_ATTEMPT)
    if kind == "done" and message["status"] not in ("ok", "failed"):
        raise MessageError(f"done status must be 'ok' or 'failed', got {_short(message['status'])}")
    if kind == "result":
        _validate_result(message)
    return message


def _validate_result(message):
    status, metrics = message["status"], message["metrics"]
    if status not in ("ok", "error"):
        raise MessageError(f"result status must be 'ok' or 'error', got {_short(status)}")
    _check_range("result", "seconds", message["seconds"], 0.0, MAX_SECONDS)
    if len(metrics) > MAX_METRICS:
        raise MessageError(f"a result carries at most {MAX_METRICS} metrics, got {len(metrics)}")
    for k, v in metrics.items():
        if len(k) > 100:
            raise MessageError(f"result metric name {k[:40]!r}... is longer than 100 characters")
        if not _is_number(v):
            raise MessageError(f"result metric {k[:40]!r} must be a finite number, got {_short(v)}")
        low, high = (0.0, 1.0) if k == "ap" else (-MAX_METRIC, MAX_METRIC)
        _check_range("result", f"metrics[{k[:40]!r}]", v, low, high)
    if status == "ok" and "ap" not in metrics:
        raise MessageError("an ok result must carry metrics['ap']")
    if status == "error" and not message["error"]:
        raise MessageError("an error result must carry the error text")
    if message["error"] is not None and len(message["error"]) > MAX_ERROR_CHARS:
        raise MessageError(f"result error text is longer than {MAX_ERROR_CHARS} characters")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_range(kind, name, value, low, high):
    if not low <= value <= high:
        raise MessageError(f"{kind} message field {name} = {_short(value)} is outside [{low:g}, {high:g}]")


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
