"""The one interface the master talks to, whichever backend carries the tasks.

The master submits tasks (``submit``), polls for messages from the servers (``poll``: "started" and
"result" messages), acknowledges them once their effect is checkpointed (``ack``) and asks which tasks
have been in flight too long (``expired``). In-flight bookkeeping lives here, the same for both
backends: one entry per architecture (the latest task issued for it); a result for any task of that
architecture ends it, later duplicates are the master's to ignore.
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

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Received:
    """A validated message from a server plus the backend's handle to acknowledge it."""
    message: dict
    token: object = None


class Transport(abc.ABC):
    def __init__(self, experiment):
        self.experiment = experiment
        self.run_id = ""  # set by the master: prefix of its task ids
        self._in_flight: Dict[str, InFlight] = {}

    # ------------------------------------------------------------------------------ the interface
    def submit(self, arch, attempt) -> dict:
        """Publish a task for `arch` (digit string); returns the task message."""
        task = messages.new_task(self.experiment, arch, attempt, self.run_id)
        self._send(task)
        self._in_flight[arch] = InFlight(arch, task["task_id"], attempt, task["issued_at"])
        return task

    def poll(self, timeout) -> List[Received]:
        """Messages that arrived within `timeout` seconds (may be empty). "started" marks the in-flight
        entry as running; "result" ends the entry of its architecture."""
        received = self._receive(timeout)
        for r in received:
            m = r.message
            entry = self._in_flight.get(m["arch"])
            if entry is None:
                continue
            if m["type"] == "started":
                entry.started_at = time.time()
                entry.server_id = m["server_id"]
            elif m["type"] == "result":
                del self._in_flight[m["arch"]]
        return received

    def in_flight(self) -> Dict[str, InFlight]:
        return dict(self._in_flight)

    def forget(self, arch):
        self._in_flight.pop(arch, None)

    def expired(self, timeout_s, now=None) -> List[InFlight]:
        """In-flight tasks running (since "started") for more than `timeout_s`, and tasks never started
        after `timeout_s` while the backend holds no waiting task (so they cannot still be queued)."""
        now = time.time() if now is None else now
        running = [e for e in self._in_flight.values()
                   if e.started_at is not None and now - e.started_at > timeout_s]
        unstarted = [e for e in self._in_flight.values()
                     if e.started_at is None and now - e.submitted_at > timeout_s]
        if unstarted and self.tasks_waiting() > 0:
            unstarted = []
        return running + unstarted

    @abc.abstractmethod
    def ack(self, received: List[Received]) -> None:
        """Acknowledge messages whose effect is safely recorded (a crash before this redelivers them)."""

    @abc.abstractmethod
    def tasks_waiting(self) -> int:
        """How many tasks wait in the backend for a server."""

    def discard_waiting_tasks(self) -> None:
        """Drop tasks still waiting for a server (the master re-issues all pending work on resume)."""

    @abc.abstractmethod
    def close(self) -> None:
        ...

    # ---------------------------------------------------------------------------- for the backends
    @abc.abstractmethod
    def _send(self, task: dict) -> None:
        ...

    @abc.abstractmethod
    def _receive(self, timeout: float) -> List[Received]:
        ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
