"""The JSON messages between master and evaluation servers, and their strict validation.

Three message types travel, all JSON objects with ``schema_version`` and ``type``:

* ``task``    master -> server: evaluate ``arch`` (digit string) for ``experiment``.
* ``started`` server -> master: a server began evaluating a task (starts the master's per-task timer).
* ``result``  server -> master: ``status`` "ok" with ``metrics`` (at least "ap"), or "error" with
  ``error`` text.

The architecture digit string is the identity of a candidate everywhere. Nothing is ever unpickled or
evaluated: a body that is not valid UTF-8 JSON of the expected shape and version raises
``MessageError`` (the server dead-letters such a task, the master dead-letters such a result).
"""
import json
import math
import time
import uuid

SCHEMA_VERSION = 1
MAX_BODY_BYTES = 64 * 1024
MAX_ARCH_LEN = 256
MESSAGE_TYPES = ("task", "started", "result")
MAX_ID_LEN = 256  # experiment, task_id, server_id
# Numbers are finite and in range: a wall-clock time (s since 1970) before year 5000, durations under
# 30 years, a metric's magnitude under 1e9 (AP itself in [-1, 1]; pycocotools reports -1 for "no
# ground truth"), so a 1e308 cannot poison statistics or plots downstream.
MAX_TIME = 1e11
MAX_SECONDS = 1e9
MAX_METRIC = 1e9
MAX_ATTEMPT = 1_000_000


class MessageError(ValueError):
    """A message body that is malformed, of an unknown schema version, or of an unexpected type."""


def new_task(experiment, arch, attempt, run_id=""):
    # The task id starts with the master's run id, so a master can tell its own tasks' results from
    # stale ones of an earlier run of the same experiment name.
    task_id = f"{run_id}.{uuid.uuid4().hex}" if run_id else uuid.uuid4().hex
    return {"schema_version": SCHEMA_VERSION, "type": "task", "experiment": experiment,
            "task_id": task_id, "arch": arch, "attempt": int(attempt), "issued_at": time.time()}


def started_message(task, server_id, redelivered):
    return {"schema_version": SCHEMA_VERSION, "type": "started", "experiment": task["experiment"],
            "task_id": task["task_id"], "arch": task["arch"], "server_id": server_id,
            "redelivered": bool(redelivered), "started_at": time.time()}


def result_message(task, server_id, metrics=None, error=None, seconds=0.0):
    ok = error is None
    return {"schema_version": SCHEMA_VERSION, "type": "result", "experiment": task["experiment"],
            "task_id": task["task_id"], "arch": task["arch"], "server_id": server_id,
            "status": "ok" if ok else "error", "metrics": dict(metrics or {}) if ok else {},
            "error": None if ok else str(error), "seconds": float(seconds), "finished_at": time.time()}


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
    except (UnicodeDecodeError, ValueError) as e:
        raise MessageError(f"message body is not UTF-8 JSON: {e}") from None
    except RecursionError:  # e.g. 20 kB of "[": a peer must never be able to crash us
        raise MessageError("message body is nested too deeply") from None
    try:
        validate(message, expected_types)
    except MessageError:
        raise
    except Exception as e:  # whatever a malformed body trips, it is a malformed message
        raise MessageError(f"message could not be validated: {type(e).__name__}: {e}") from None
    if experiment is not None and message["experiment"] != experiment:
        raise MessageError(f"message is for experiment {message['experiment']!r}, not {experiment!r}")
    return message


def _refuse_constant(name):
    raise ValueError(f"{name} is not allowed")


_COMMON = {"schema_version": int, "type": str, "experiment": str, "task_id": str, "arch": str}
_FIELDS = {
    "task": {"attempt": int, "issued_at": float},
    "started": {"server_id": str, "redelivered": bool, "started_at": float},
    "result": {"server_id": str, "status": str, "metrics": dict, "error": (str, type(None)),
               "seconds": float, "finished_at": float},
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
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif types is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, types)
        if not ok:
            raise MessageError(f"{kind} message field {name!r} has the wrong type: {value!r}")
    for name in ("issued_at", "started_at", "finished_at"):
        if name in message and not 0 <= message[name] <= MAX_TIME:
            raise MessageError(f"{kind} message field {name!r} is not a plausible time: {message[name]!r}")
    if kind == "result" and not 0 <= message["seconds"] <= MAX_SECONDS:
        raise MessageError(f"result seconds out of range: {message['seconds']!r}")
    for name in ("experiment", "task_id", "server_id"):
        if name in message and len(message[name]) > MAX_ID_LEN:
            raise MessageError(f"{kind} message field {name!r} is longer than {MAX_ID_LEN} characters")
    arch = message["arch"]
    if not (0 < len(arch) <= MAX_ARCH_LEN and arch.isascii() and arch.isdigit()):
        raise MessageError(f"arch must be a digit string of 1..{MAX_ARCH_LEN} digits, got {arch[:40]!r}")
    if not message["experiment"] or not message["task_id"]:
        raise MessageError("experiment and task_id must not be empty")
    if kind == "task" and not 1 <= message["attempt"] <= MAX_ATTEMPT:
        raise MessageError(f"task attempt must be in 1..{MAX_ATTEMPT}, got {message['attempt']}")
    if kind == "result":
        _validate_result(message)
    return message


def _validate_result(message):
    status, metrics = message["status"], message["metrics"]
    if status not in ("ok", "error"):
        raise MessageError(f"result status must be 'ok' or 'error', got {status!r}")
    for k, v in metrics.items():
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
            raise MessageError(f"result metric {k!r} must be a finite number, got {v!r}")
        if abs(v) > MAX_METRIC:
            raise MessageError(f"result metric {k!r} is out of range: {v!r}")
    if "ap" in metrics and not -1.0 <= metrics["ap"] <= 1.0:
        raise MessageError(f"result metric 'ap' must be in [-1, 1], got {metrics['ap']!r}")
    if status == "ok" and "ap" not in metrics:
        raise MessageError("an ok result must carry metrics['ap']")
    if status == "error" and not message["error"]:
        raise MessageError("an error result must carry the error text")
