"""The master's side of the RabbitMQ backend: publish tasks, consume the servers' messages, announce
final candidates.

One blocking pika connection, used only from the master's thread. Every broker call goes through
``_call``, which reconnects with capped exponential back-off when the broker goes away (and re-declares
the queues), so a broker restart pauses the search instead of ending it; after a reconnect every
holder of a task gets a full MASTER.SERVER_LOST_S to report again. Results are acknowledged only
after the master has checkpointed them; deliveries from a connection that has since been lost are
requeued by the broker and will come again. "done" notices go to the fanout exchange, unconfirmed
and not mandatory (no server may be listening).
"""

import logging

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
from .base import Received, Transport

logger = logging.getLogger(__name__)


class RabbitMQTransport(Transport):
    reports_progress = True
    durable = True

    def __init__(self, experiment, url, heartbeat_s=60, backoff=None, result_prefetch=256, tls=None):
        super().__init__(experiment)
        self.names = QueueNames.for_experiment(experiment)
        self.url = url
        self._params = connection_parameters(url, heartbeat_s, **(tls or {}))
        self._backoff = backoff or Backoff()
        self._prefetch = result_prefetch
        self._connection = None
        self._channel = None
        self._generation = 0  # bumps at every (re)connection; acks of older deliveries are void
        self._inbox = []
        self._call(lambda: None)  # connect now, so a wrong URL or password shows at once

    # -------------------------------------------------------------------------------- connection
    def _connect(self):
        self._drop()
        logger.info("connecting to %s", redact(self.url))
        connection = pika.BlockingConnection(self._params)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            declare_topology(channel, self.names)
            channel.basic_qos(prefetch_count=self._prefetch)
            self._generation += 1
            generation = self._generation
            channel.basic_consume(
                self.names.results,
                lambda ch, method, props, body: self._inbox.append((generation, method.delivery_tag, body)),
            )
        except BaseException:
            if connection.is_open:
                connection.close()
            raise
        self._connection, self._channel = connection, channel
        self._inbox.clear()  # deliveries of an older connection were requeued by the broker
        self._refresh_liveness()
        logger.info("connected to %s (queues %s, %s)", redact(self.url), self.names.tasks, self.names.results)

    def _drop(self):
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except RECONNECTABLE:
                pass

    def _call(self, fn):
        """Run fn() against a live connection, reconnecting with back-off until it succeeds."""
        while True:
            try:
                if self._connection is None or not self._connection.is_open or not self._channel.is_open:
                    self._connect()
                result = fn()
                self._backoff.reset()
                return result
            except RECONNECTABLE as e:
                if is_fatal(e):
                    self._drop()
                    raise fatal_error(e, self.url) from e
                self._drop()
                self._backoff.wait(f"broker {redact(self.url)}", e)

    # -------------------------------------------------------------------------------- transport
    def _send(self, task):
        body = messages.encode(task)
        props = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            content_type="application/json",
            message_id=task["task_id"],
            type="task",
        )
        # With confirm_delivery, basic_publish returns once the broker has the message in the durable
        # queue, or raises (unroutable, nacked, connection lost) and _call tries again.
        self._call(lambda: self._channel.basic_publish("", self.names.tasks, body, props, mandatory=True))

    def _receive(self, timeout):
        self._call(lambda: self._connection.process_data_events(time_limit=timeout))
        received = []
        inbox, self._inbox = self._inbox, []
        for generation, tag, body in inbox:
            try:
                message = messages.decode(body, messages.SERVER_MESSAGES, self.experiment)
            except messages.MessageError as e:
                logger.error("dead-lettering a malformed message on %s: %s", self.names.results, e)
                self._settle(generation, tag, ack=False)
                continue
            received.append(Received(message, (generation, tag)))
        return received

    def ack(self, received):
        for r in received:
            generation, tag = r.token
            self._settle(generation, tag, ack=True)

    def _settle(self, generation, tag, ack):
        if generation != self._generation:
            return  # delivered on a lost connection: the broker requeued it, it will come again
        try:
            if ack:
                self._channel.basic_ack(tag)
            else:
                self._channel.basic_nack(tag, requeue=False)
        except RECONNECTABLE as e:
            logger.warning("could not settle a delivery (%s); it will be redelivered", e)
            self._drop()

    def notify_final(self, arch, status):
        body = messages.encode(messages.done_message(self.experiment, self.run_id, arch, status))
        props = pika.BasicProperties(content_type="application/json", type="done")
        self._call(lambda: self._channel.basic_publish(self.names.notices, "", body, props))

    def tasks_waiting(self):
        return self._call(lambda: self._channel.queue_declare(self.names.tasks, passive=True).method.message_count)

    def discard_waiting_tasks(self):
        purged = self._call(lambda: self._channel.queue_purge(self.names.tasks).method.message_count)
        if purged:
            logger.info("purged %d waiting tasks of a previous run from %s", purged, self.names.tasks)

    def close(self):
        self._drop()
