"""The local backend: the same master, with evaluation workers as local processes instead of servers.

Workers are started with multiprocessing "spawn" (safe with CUDA and threads) and configured by the
same argument list as ``test_server.py`` (``LOCAL.SERVER_ARGS``), so any registered evaluator works.
Messages are the same JSON as on the broker, passed through two multiprocessing queues. A worker that
dies (killed, segfault, out of memory) is noticed on the next poll: its running task is reported as an
error result (one failed attempt, which the master re-issues) and a new worker takes its place.
Workers exit by themselves when the master process is gone. Nothing here survives a master restart;
the master issues every pending task again when it resumes (no worker of the old run is left).
"""

import logging
import multiprocessing as mp
import os
import queue
import time

from .. import messages
from .base import Received, Transport

logger = logging.getLogger(__name__)


def _worker_main(index, server_argv, experiment, output_dir, task_q, result_q, parent_pid):
    # Imported here: this runs in a fresh (spawned) interpreter.
    from ..runner import make_runner, server_identity, server_scratch_dir
    from ..outputs import setup_logging
    from ..server_args import parse_server_args

    args = parse_server_args(server_argv)
    server_id = server_identity(args.gpu)
    scratch = server_scratch_dir(output_dir, server_id)
    setup_logging(args.log_level, os.path.join(scratch, "server.log"))
    runner = make_runner(args, scratch, server_id)
    while True:
        try:
            body = task_q.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent_pid:
                return  # the master is gone
            continue
        if body is None or os.getppid() != parent_pid:
            return  # tasks still queued by a master that is gone are nobody's work
        try:
            task = messages.decode(body, ("task",), experiment)
        except messages.MessageError as e:
            logging.getLogger(__name__).error("worker %d: dropping a malformed task: %s", index, e)
            continue
        result_q.put(messages.encode(messages.started_message(task, server_id, False)))
        result_q.put(messages.encode(runner.run(task)))


class LocalWorkerError(RuntimeError):
    """A local worker keeps dying before it takes any task (bad evaluator set-up)."""


EARLY_DEATHS = 3  # deaths in a row, each within STARTUP_S of its start and before any task
STARTUP_S = 120.0


def _pid_of(server_id):
    return int(server_id.rsplit("-", 2)[1])  # host-pid-device


class LocalTransport(Transport):
    def __init__(self, experiment, output_dir, server_argv, num_workers=1, gpus=()):
        super().__init__(experiment)
        if num_workers < 1:
            raise ValueError(f"LOCAL.NUM_WORKERS must be >= 1, got {num_workers}")
        self.output_dir = output_dir
        self._ctx = mp.get_context("spawn")
        self._task_q = self._ctx.Queue()
        self._result_q = self._ctx.Queue()
        self._server_argv = list(server_argv)
        self._gpus = list(gpus)
        self._check_arguments()
        self._workers = [None] * num_workers
        self._started_at = [0.0] * num_workers
        self._early_deaths = [0] * num_workers
        self._running = {}  # worker pid -> "started" message of the task it evaluates
        self._waiting = 0  # tasks sent and not yet started
        self._closing = False
        for i in range(num_workers):
            self._start_worker(i)

    def _worker_argv(self, index):
        argv = list(self._server_argv)
        if self._gpus:
            argv += ["--gpu", str(self._gpus[index % len(self._gpus)])]
        return argv

    def _check_arguments(self):
        from ..evaluators import EVALUATORS
        from ..server_args import parse_server_args

        if not any(a == "--evaluator" or a.startswith("--evaluator=") for a in self._server_argv):
            raise ValueError(
                f"LOCAL.SERVER_ARGS {self._server_argv} names no evaluator; the local backend will not guess "
                f"one. Name it, e.g. LOCAL.SERVER_ARGS \"['--evaluator', 'detector', '--config-file', CFG, "
                f"'--weights', SUPERNET]\" (known: {', '.join(sorted(EVALUATORS))}; 'synthetic' makes up its "
                "scores, for tests only)"
            )
        try:
            parse_server_args(self._worker_argv(0))
        except SystemExit:  # argparse has printed why
            raise ValueError(
                f"LOCAL.SERVER_ARGS {self._server_argv} are not valid test_server.py arguments (see the message above)"
            ) from None

    def _start_worker(self, index):
        argv = self._worker_argv(index)
        p = self._ctx.Process(
            target=_worker_main,
            name=f"detnas-eval-{index}",
            daemon=True,
            args=(index, argv, self.experiment, self.output_dir, self._task_q, self._result_q, os.getpid()),
        )
        p.start()
        self._workers[index] = p
        self._started_at[index] = time.monotonic()
        logger.info("local worker %d started (pid %d)", index, p.pid)

    def _send(self, task):
        self._task_q.put(messages.encode(task))
        self._waiting += 1

    def _receive(self, timeout):
        bodies = []
        deadline = time.monotonic() + timeout
        try:
            bodies.append(self._result_q.get(timeout=max(0.0, timeout)))
            while True:
                bodies.append(self._result_q.get_nowait())
        except queue.Empty:
            pass
        received = []
        for body in bodies:
            try:
                message = messages.decode(body, messages.SERVER_MESSAGES, self.experiment)
                pid = _pid_of(message["server_id"])
            except (messages.MessageError, ValueError, IndexError) as e:
                logger.error("dropping a malformed message from a local worker: %s", e)
                continue
            if message["type"] == "started":
                self._waiting = max(0, self._waiting - 1)
                self._running[pid] = message
            else:
                self._running.pop(pid, None)
            received.append(Received(message))
        received.extend(self._reap_dead_workers())
        if not received and time.monotonic() < deadline:
            time.sleep(max(0.0, deadline - time.monotonic()))
        return received

    def _reap_dead_workers(self):
        lost = []
        for i, p in enumerate(self._workers):
            if p.is_alive() or self._closing:
                continue
            started = self._running.pop(p.pid, None)
            early = started is None and time.monotonic() - self._started_at[i] < STARTUP_S
            self._early_deaths[i] = self._early_deaths[i] + 1 if early else 0
            if self._early_deaths[i] >= EARLY_DEATHS:
                raise LocalWorkerError(
                    f"local worker {i} died {EARLY_DEATHS} times in a row right after starting (exit code "
                    f"{p.exitcode}); see its server.log under {os.path.join(self.output_dir, 'servers')}"
                )
            logger.error(
                "local worker %d (pid %d) died with exit code %s%s; starting a new one",
                i,
                p.pid,
                p.exitcode,
                f" while evaluating {started['arch']}" if started else "",
            )
            if started is not None:
                task = {k: started[k] for k in ("experiment", "task_id", "arch")}
                lost.append(
                    Received(
                        messages.result_message(
                            task, started["server_id"], error=f"local worker died with exit code {p.exitcode}"
                        )
                    )
                )
            self._start_worker(i)
        return lost

    def ack(self, received):
        pass  # nothing to acknowledge: a master crash takes the workers and queues with it

    def tasks_waiting(self):
        return self._waiting

    def close(self):
        self._closing = True
        try:  # tasks nobody needs any more (e.g. duplicates of re-issued ones) must not delay the exit
            while True:
                self._task_q.get_nowait()
        except queue.Empty:
            pass
        for _ in self._workers:
            self._task_q.put(None)
        for p in self._workers:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        self._task_q.close()
        self._result_q.close()
