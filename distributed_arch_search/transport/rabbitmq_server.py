"""The evaluation server's side of the RabbitMQ backend.

The pika connection lives in the server's main thread; the evaluation runs in a worker thread so the
main thread keeps servicing the connection (heartbeats) however long an evaluation takes. The worker
never touches pika: it stores its result and wakes the main loop with
``connection.add_callback_threadsafe``. The main loop then publishes the result (publisher confirm)
and only then acknowledges the task, so a crash at any point before the ack makes the broker redeliver
the task (to this or another server).

Prefetch is 1: a server holds one task at a time. A malformed task, one of an unknown schema version
or of another experiment is rejected without requeue and lands in the dead-letter queue; the server
logs it and serves on.

When the broker goes away (restart, network, or the channel closed for the consumer ack timeout) the
server reconnects with capped exponential back-off while its evaluation goes on. It does not consume
again until the evaluation's result is published. The lost delivery has been requeued by the broker;
if it comes back to this server, the cached result is published again and the task acknowledged
without evaluating twice.
"""
import collections
import dataclasses
import logging
import threading
from typing import Optional

import pika

from .. import messages
from .amqp import (RECONNECTABLE, Backoff, QueueNames, connection_parameters, declare_topology,
                   fatal_error, is_fatal, redact)

logger = logging.getLogger(__name__)

RESULT_CACHE_SIZE = 1024


class ConsumerCancelledByBroker(pika.exceptions.AMQPChannelError):
    def __str__(self):
        return str(self.args[0])


@dataclasses.dataclass
class _Job:
    task: dict
    delivery_tag: int
    generation: int  # connection generation the task was delivered on
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: Optional[dict] = None
    published: bool = False


class RabbitMQServer:
    def __init__(self, experiment, url, runner, heartbeat_s=60, consumer_timeout_ms=86_400_000,
                 backoff=None, tls=None):
        self.experiment = experiment
        self.names = QueueNames.for_experiment(experiment)
        self.url = url
        self.runner = runner  # .server_id, .run(task) -> result message (never raises)
        self._params = connection_parameters(url, heartbeat_s, **(tls or {}))
        self._consumer_args = {"x-consumer-timeout": int(consumer_timeout_ms)} if consumer_timeout_ms else None
        self._backoff = backoff or Backoff()
        self._connection = None
        self._channel = None
        self._consumer_tag = None
        self._generation = 0
        self._cancelled = False
        self._job: Optional[_Job] = None
        self._cache = collections.OrderedDict()  # arch -> result message, for redelivered tasks
        self._stop = threading.Event()
        self.tasks_done = 0
        self.rejected = 0

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
                    if self._job is None and self._consumer_tag is None:
                        self._consumer_tag = self._channel.basic_consume(
                            self.names.tasks, self._on_task, arguments=self._consumer_args)
                    self._connection.process_data_events(time_limit=1.0)
                    if not self._channel.is_open:
                        raise pika.exceptions.ChannelClosed(-1, "channel closed (see the broker log; "
                                                                "an ack timeout closes it like this)")
                    if self._cancelled:  # e.g. the queue was deleted: declare it again on a new connection
                        raise ConsumerCancelledByBroker("the broker cancelled the task consumer")
                    self._finish_job()
                    self._backoff.reset()
                except RECONNECTABLE as e:
                    if is_fatal(e):
                        raise fatal_error(e, self.url) from e
                    self._drop()
                    if not self._stop.is_set():
                        self._backoff.wait(f"server {self.runner.server_id}: broker {redact(self.url)}", e)
        finally:
            if self._job is not None and not self._job.published:
                logger.warning("stopping with %s unfinished; the broker requeues it", self._job.task["arch"])
            self._drop()

    # ----------------------------------------------------------------------------- connection
    def _connect(self):
        connection = pika.BlockingConnection(self._params)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            declare_topology(channel, self.names)
            channel.basic_qos(prefetch_count=1)
        except BaseException:
            if connection.is_open:
                connection.close()
            raise
        channel.add_on_cancel_callback(self._on_cancel)
        self._connection, self._channel = connection, channel
        self._generation += 1
        self._consumer_tag = None
        self._cancelled = False
        logger.info("server %s connected to %s", self.runner.server_id, redact(self.url))

    def _drop(self):
        connection, self._connection, self._channel, self._consumer_tag = self._connection, None, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except RECONNECTABLE:
                pass

    def _publish(self, message):
        body = messages.encode(message)
        props = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent,
                                     content_type="application/json", type=message["type"],
                                     message_id=message["task_id"])
        self._channel.basic_publish("", self.names.results, body, props, mandatory=True)

    def _on_cancel(self, frame):
        self._cancelled = True

    # ----------------------------------------------------------------------------- tasks
    def _on_task(self, channel, method, properties, body):
        if self._job is not None:  # prefetch 1 prevents this; never run two evaluations at once
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        try:
            task = messages.decode(body, ("task",), self.experiment)
        except messages.MessageError as e:
            self.rejected += 1
            logger.error("server %s: rejecting a task to %s: %s", self.runner.server_id, self.names.dead, e)
            channel.basic_nack(method.delivery_tag, requeue=False)
            return
        cached = self._cache.get(task["arch"])
        if cached is not None:
            logger.info("task %s (%s) redelivered; publishing the result computed before",
                        task["task_id"], task["arch"])
            self._publish(dict(cached, task_id=task["task_id"]))
            channel.basic_ack(method.delivery_tag)
            return
        job = _Job(task, method.delivery_tag, self._generation)
        self._job = job
        threading.Thread(target=self._evaluate, args=(job, self._connection), daemon=True,
                         name=f"evaluate-{task['arch']}").start()
        # After the start, so its confirm round trip overlaps the evaluation. If it fails (broker
        # lost) the evaluation goes on and its result is published after reconnecting.
        self._publish(messages.started_message(task, self.runner.server_id, method.redelivered))

    def _evaluate(self, job, connection):
        job.result = self.runner.run(job.task)  # never raises: failures become error results
        job.done.set()
        try:
            connection.add_callback_threadsafe(lambda: None)  # wake the main loop now
        except Exception:
            pass  # that connection is gone; the main loop finds the result on its next turn

    def _finish_job(self):
        job = self._job
        if job is None or not job.done.is_set():
            return
        if not job.published:
            self._publish(job.result)  # raises on a lost connection: retried after reconnecting
            job.published = True
            if job.result["status"] == "ok":
                self._cache[job.task["arch"]] = job.result
                while len(self._cache) > RESULT_CACHE_SIZE:
                    self._cache.popitem(last=False)
        if job.generation == self._generation:
            self._channel.basic_ack(job.delivery_tag)
        else:
            logger.warning("task %s (%s) was delivered on a lost connection; its result is published, "
                           "the broker requeued the task", job.task["task_id"], job.task["arch"])
        self._job = None
        self.tasks_done += 1
