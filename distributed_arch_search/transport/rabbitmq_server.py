"""The evaluation server's side of the RabbitMQ backend.

The pika connection lives in the server's main thread; the evaluation runs in a worker thread so the
main thread keeps servicing the connection (heartbeats, progress messages) however long an evaluation
takes. The worker never touches pika: it stores its result and wakes the main loop with
``connection.add_callback_threadsafe``.

One task at a time. An idle server takes a task with ``basic.get`` every ``poll_s`` (every
``EAGER_POLL_S`` during the first ``EAGER_WINDOW_S`` after a task, when the master's next one is most
likely on its way) rather than holding a consumer: a consumer can be lost without a cancel when its quorum queue is deleted and
declared again (a ``basic.consume`` racing the deletion registers on the new queue while the channel
forgets it, and the task it is handed stays unacknowledged there, unseen), whereas a get on a deleted
queue fails (404) and the server reconnects and declares the queues again. It checks the task,
publishes "started" (confirmed), acknowledges the task and only then evaluates; every ``progress_s``
it sends "progress"; it publishes the result (confirmed) and takes the next. Before evaluating it skips a task whose
candidate the master has announced final ("done" notices on the fanout exchange), answers a task it
has already evaluated from its own result cache, and refuses to evaluate one whose tries (attempt +
broker delivery count) exceed the task's ``max_attempts`` (an error result says why). A malformed
task, one of an unknown schema version or of another experiment is rejected without requeue and lands
in the dead-letter queue; the server logs it and serves on.

When the broker goes away the server reconnects with capped exponential back-off while its evaluation
goes on, and publishes the result once connected again. Stopped (SIGTERM) in the middle of an
evaluation, it puts the task back in the queue and tells the master ("released").
"""

import collections
import dataclasses
import logging
import threading
import time
import uuid
from typing import Optional

import pika

from .. import messages
from .amqp import (
    RECONNECTABLE,
    Backoff,
    QueueNames,
    connection_parameters,
    declare_topology,
    fatal_error,
    is_fatal,
    redact,
)

logger = logging.getLogger(__name__)

RESULT_CACHE_SIZE = 1024
FINAL_MEMORY = 100_000  # "done" notices remembered (candidates of all runs seen by this server)
# After a task the master usually sends the next within milliseconds: look for it this often, for
# this long, before falling back to poll_s (gets are cheap; a second of them costs the broker little).
EAGER_POLL_S = 0.01
EAGER_WINDOW_S = 1.0


@dataclasses.dataclass
class _Job:
    task: dict
    tries: int
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: Optional[dict] = None
    last_progress: float = 0.0


def delivery_count(properties, redelivered):
    """Earlier deliveries of this message: the quorum queue's header, else 1 for a redelivery."""
    value = (properties.headers or {}).get("x-delivery-count")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= messages.MAX_ATTEMPT:
        return value
    return 1 if redelivered else 0


class RabbitMQServer:
    def __init__(self, experiment, url, runner, heartbeat_s=60, backoff=None, tls=None, progress_s=10.0, poll_s=0.2):
        self.experiment = experiment
        self.names = QueueNames.for_experiment(experiment)
        self.url = url
        self.runner = runner  # .server_id, .run(task) -> result message (never raises)
        self._params = connection_parameters(url, heartbeat_s, **(tls or {}))
        self._backoff = backoff or Backoff()
        self.progress_s = float(progress_s)
        self.poll_s = float(poll_s)
        self._idle_since = float("-inf")  # when the last task ended; -inf: none yet
        self._connection = None
        self._channel = None
        self._job: Optional[_Job] = None
        self._cache = collections.OrderedDict()  # arch -> result message, for repeated tasks
        self._final = collections.OrderedDict()  # (run id, arch) of candidates the master made final
        self._stop = threading.Event()
        self.tasks_done = 0
        self.rejected = 0
        self.skipped = 0

    def stop(self):
        """Ask serve() to return (safe from a signal handler or another thread)."""
        self._stop.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.add_callback_threadsafe(lambda: None)
            except Exception:  # the connection may be closing; the loop polls the flag anyway
                pass

    def serve(self):
        logger.info("server %s serving %s on %s", self.runner.server_id, self.names.tasks, redact(self.url))
        try:
            while not self._stop.is_set():
                try:
                    if self._connection is None:
                        self._connect()
                    took = self._job is None and self._take_task()
                    wait = 0.0 if took else self._idle_wait() if self._job is None else min(1.0, self.progress_s)
                    self._connection.process_data_events(time_limit=wait)  # notices, heartbeats, wake-ups
                    if not self._channel.is_open:
                        raise pika.exceptions.ChannelClosed(-1, "channel closed (see the broker log)")
                    self._tend_job()
                    self._backoff.reset()
                except RECONNECTABLE as e:
                    if is_fatal(e):
                        raise fatal_error(e, self.url) from e
                    self._drop()
                    if not self._stop.is_set():
                        self._backoff.wait(f"server {self.runner.server_id}: broker {redact(self.url)}", e)
        finally:
            self._release_unfinished()
            self._drop()

    def _idle_wait(self):
        eager = time.monotonic() - self._idle_since < EAGER_WINDOW_S
        return min(EAGER_POLL_S, self.poll_s) if eager else self.poll_s

    # ----------------------------------------------------------------------------- connection
    def _connect(self):
        connection = pika.BlockingConnection(self._params)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            declare_topology(channel, self.names)
            # Named under detnas.<exp>. (not amq.gen-*), so a user limited to ^detnas\. may declare it.
            notices = f"{self.names.notices}.{uuid.uuid4().hex[:12]}"
            channel.queue_declare(notices, exclusive=True, auto_delete=True)
            channel.queue_bind(notices, self.names.notices)
            channel.basic_consume(notices, self._on_notice, auto_ack=True)
        except BaseException:
            if connection.is_open:
                connection.close()
            raise
        self._connection, self._channel = connection, channel
        logger.info("server %s connected to %s", self.runner.server_id, redact(self.url))

    def _drop(self):
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except RECONNECTABLE:
                pass

    def _publish(self, message, queue=None):
        body = messages.encode(message)
        props = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            content_type="application/json",
            type=message["type"],
            message_id=message["task_id"],
        )
        self._channel.basic_publish("", queue or self.names.results, body, props, mandatory=True)

    def _on_notice(self, channel, method, properties, body):
        try:
            notice = messages.decode(body, ("done",), self.experiment)
        except messages.MessageError as e:
            logger.error("server %s: ignoring a malformed notice: %s", self.runner.server_id, e)
            return
        self._final[(messages.run_of(notice["task_id"]), notice["arch"])] = notice["status"]
        while len(self._final) > FINAL_MEMORY:
            self._final.popitem(last=False)

    # ----------------------------------------------------------------------------- tasks
    def _take_task(self):
        """Get one waiting task and handle it; False when the queue is empty. A deleted tasks queue
        raises ChannelClosedByBroker (404): the reconnect declares it again."""
        method, properties, body = self._channel.basic_get(self.names.tasks)
        if method is None:
            return False
        self._on_task(self._channel, method, properties, body)
        return True

    def _on_task(self, channel, method, properties, body):
        try:
            task = messages.decode(body, ("task",), self.experiment)
        except messages.MessageError as e:
            self.rejected += 1
            logger.error("server %s: rejecting a task to %s: %s", self.runner.server_id, self.names.dead, e)
            channel.basic_nack(method.delivery_tag, requeue=False)
            return
        count = delivery_count(properties, method.redelivered)
        tries = task["attempt"] + count
        final = self._final.get((messages.run_of(task["task_id"]), task["arch"]))
        if final is not None:
            self.skipped += 1
            logger.info("skipping task %s: candidate %s is already final (%s)", task["task_id"], task["arch"], final)
            channel.basic_ack(method.delivery_tag)
            return
        cached = self._cache.get(task["arch"])
        if cached is not None:
            logger.info("task %s (%s) was evaluated here before; publishing that result", task["task_id"], task["arch"])
            self._publish(dict(cached, task_id=task["task_id"], tries=tries))
            channel.basic_ack(method.delivery_tag)
            return
        if tries > task["max_attempts"]:
            logger.error(
                "not evaluating %s: try %d of at most %d (delivered %d times before; its servers were lost)",
                task["arch"],
                tries,
                task["max_attempts"],
                count,
            )
            self._publish(
                messages.result_message(
                    task,
                    self.runner.server_id,
                    error=f"not evaluated: try {tries} exceeds the {task['max_attempts']} "
                    f"allowed (the task was delivered {count} times before and its servers were lost each time)",
                    tries=tries,
                    evaluator=getattr(self.runner, "evaluator_name", ""),
                )
            )
            channel.basic_ack(method.delivery_tag)
            return
        self._publish(messages.started_message(task, self.runner.server_id, method.redelivered, count))
        channel.basic_ack(method.delivery_tag)  # from here on the master accounts for this task
        job = _Job(task, tries, last_progress=time.monotonic())
        self._job = job
        threading.Thread(
            target=self._evaluate, args=(job, self._connection), daemon=True, name=f"evaluate-{task['arch']}"
        ).start()

    def _evaluate(self, job, connection):
        job.result = dict(self.runner.run(job.task), tries=job.tries)  # never raises
        job.done.set()
        try:
            connection.add_callback_threadsafe(lambda: None)  # wake the main loop now
        except Exception:
            pass  # that connection is gone; the main loop finds the result on its next turn

    def _tend_job(self):
        job = self._job
        if job is None:
            return
        if not job.done.is_set():
            if time.monotonic() - job.last_progress >= self.progress_s:
                self._publish(messages.server_note("progress", job.task, self.runner.server_id))
                job.last_progress = time.monotonic()
            return
        self._publish(job.result)  # raises on a lost connection: retried after reconnecting
        if job.result["status"] == "ok":
            self._cache[job.task["arch"]] = job.result
            while len(self._cache) > RESULT_CACHE_SIZE:
                self._cache.popitem(last=False)
        self._job = None
        self._idle_since = time.monotonic()
        self.tasks_done += 1

    def _release_unfinished(self):
        job = self._job
        if job is None:
            return
        if job.done.is_set():
            try:  # finished just now: publish rather than waste it
                self._publish(job.result)
                return
            except RECONNECTABLE + (AttributeError,) as e:
                logger.warning("could not publish the result of %s while stopping: %r", job.task["arch"], e)
                return
        try:
            self._publish(job.task, queue=self.names.tasks)
            self._publish(messages.server_note("released", job.task, self.runner.server_id))
            logger.warning("stopping with %s unfinished: the task is back in the queue", job.task["arch"])
        except RECONNECTABLE + (AttributeError,) as e:  # no connection: the master sees the server gone
            logger.warning(
                "stopping with %s unfinished and no broker (%r): the master will issue it again", job.task["arch"], e
            )
