"""The one interface the master talks to, whichever backend carries the tasks.

The master submits tasks (``submit``), polls for messages from the servers (``poll``: "started",
"progress", "released" and "result" messages), acknowledges them once their effect is checkpointed
(``ack``), asks which tasks have been in flight too long (``expired``) and which were held by a server
that stopped reporting (``lost``), and announces candidates that became final (``notify_final``).
In-flight bookkeeping lives here, the same for both backends: one entry per architecture (the latest
task issued for it); a result for any task of that architecture ends it, later duplicates are the
master's to ignore.
"""

import abc
import dataclasses
import time
from typing import Dict, List, Optional

from .. import messages


@dataclasses.dataclass
class InFlight:
    arch: str
    task_id: str
    attempt: int
    submitted_at: float  # wall clock (time.time), so it survives a master restart in the checkpoint
    started_at: Optional[float] = None
    server_id: Optional[str] = None
    last_seen: Optional[float] = None  # last "started"/"progress" of its holder (time.time)

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Received:
    """A validated message from a server plus the backend's handle to acknowledge it."""

    message: dict
    token: object = None


class Transport(abc.ABC):
    # Whether servers send "progress" while evaluating, so that silence means a lost server.
    reports_progress = False
    # Whether tasks and the servers holding them outlive the master (a restarted master adopts them).
    durable = False

    def __init__(self, experiment):
        self.experiment = experiment
        self.run_id = ""  # set by the master: prefix of its task ids
        self.max_attempts = 3  # set by the master: EVOLUTION.MAX_FAILURES, carried in every task
        self._in_flight: Dict[str, InFlight] = {}

    # ------------------------------------------------------------------------------ the interface
    def submit(self, arch, attempt) -> dict:
        """Publish a task for `arch` (digit string); returns the task message."""
        task = messages.new_task(self.experiment, arch, attempt, self.run_id, self.max_attempts)
        self._send(task)
        self._in_flight[arch] = InFlight(arch, task["task_id"], attempt, task["issued_at"])
        return task

    def adopt(self, entries):
        """Take over in-flight entries (InFlight.to_dict() form) of an earlier run of the master; their
        holders get a full SERVER_LOST_S from now to show they are alive."""
        now = time.time()
        for arch, e in entries.items():
            entry = InFlight(**e)
            entry.last_seen = now
            self._in_flight[arch] = entry

    def poll(self, timeout) -> List[Received]:
        """Messages that arrived within `timeout` seconds (may be empty). "started" marks the in-flight
        entry as running on its server, "progress" shows that server alive, "released" puts the entry
        back to waiting; "result" ends the entry of its architecture."""
        received = self._receive(timeout)
        now = time.time()
        for r in received:
            m = r.message
            entry = self._in_flight.get(m["arch"])
            if entry is None:
                continue
            if m["type"] == "result":
                del self._in_flight[m["arch"]]
            elif m["task_id"] != entry.task_id:
                continue  # about an older task of this architecture
            elif m["type"] == "started":
                entry.started_at, entry.server_id, entry.last_seen = now, m["server_id"], now
            elif m["type"] == "progress" and entry.server_id in (None, m["server_id"]):
                # (None: a "started" lost with an earlier master, whose checkpoint did not see it)
                entry.started_at = entry.started_at or now
                entry.server_id, entry.last_seen = m["server_id"], now
            elif m["type"] == "released" and entry.server_id == m["server_id"]:
                entry.started_at = entry.server_id = entry.last_seen = None
                entry.submitted_at = now
        return received

    def in_flight(self) -> Dict[str, InFlight]:
        return dict(self._in_flight)

    def forget(self, arch):
        self._in_flight.pop(arch, None)

    def expired(self, timeout_s, now=None) -> List[InFlight]:
        """In-flight tasks running (since "started") for more than `timeout_s`, and tasks never started
        after `timeout_s` while the backend holds no waiting task (so they cannot still be queued)."""
        now = time.time() if now is None else now
        running = [e for e in self._in_flight.values() if e.started_at is not None and now - e.started_at > timeout_s]
        unstarted = [e for e in self._in_flight.values() if e.started_at is None and now - e.submitted_at > timeout_s]
        if unstarted and self.tasks_waiting() > 0:
            unstarted = []
        return running + unstarted

    def lost(self, silent_s, now=None) -> List[InFlight]:
        """Running tasks whose server has sent nothing about them for more than `silent_s` seconds."""
        if not self.reports_progress or silent_s <= 0:
            return []
        now = time.time() if now is None else now
        return [
            e
            for e in self._in_flight.values()
            if e.started_at is not None and now - (e.last_seen or e.started_at) > silent_s
        ]

    def notify_final(self, arch, status) -> None:
        """Tell every server that `arch` is final ("ok" or "failed"): none evaluates a copy of it."""

    def _refresh_liveness(self):
        """After the master was cut off (reconnect): every holder gets a full SERVER_LOST_S again."""
        now = time.time()
        for e in self._in_flight.values():
            if e.started_at is not None:
                e.last_seen = now

    @abc.abstractmethod
    def ack(self, received: List[Received]) -> None:
        """Acknowledge messages whose effect is safely recorded (a crash before this redelivers them)."""

    @abc.abstractmethod
    def tasks_waiting(self) -> int:
        """How many tasks wait in the backend for a server."""

    def discard_waiting_tasks(self) -> None:
        """Drop tasks still waiting for a server (stale tasks of another run, at a fresh start)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # ---------------------------------------------------------------------------- for the backends
    @abc.abstractmethod
    def _send(self, task: dict) -> None: ...

    @abc.abstractmethod
    def _receive(self, timeout: float) -> List[Received]: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
