"""RabbitMQ plumbing shared by the master and the servers: URL, connection parameters, queue names and
declarations, error classes and the reconnection back-off.

Queues of one experiment ``<exp>`` (all durable, declared identically by master and servers):

* ``detnas.<exp>.tasks``    master -> servers; a quorum queue, so every redelivery carries the
                            broker's ``x-delivery-count``; dead-letters to the exchange ``detnas.<exp>.dlx``
* ``detnas.<exp>.results``  servers -> master ("started", "progress", "released", "result");
                            dead-letters likewise
* ``detnas.<exp>.dead``     bound to ``detnas.<exp>.dlx``: rejected (malformed or unknown-version)
                            messages, kept for inspection
* ``detnas.<exp>.notices``  a fanout exchange, master -> every connected server: "done" notices
                            (each server binds an exclusive queue of its own)

Messages are published persistent (delivery_mode 2) with publisher confirms and ``mandatory``, so a
publish either reaches a durable queue or raises.

**Who holds a task.** A server takes a task with ``basic.get`` (no standing consumer, so none can go
stale when a queue is deleted and declared again) and acknowledges it as soon as its "started" message is confirmed,
before evaluating, and takes no other task until its result is published. So the broker's consumer
acknowledgement timeout (``consumer_timeout``) never fires however long an evaluation takes, and a
broker restart never requeues a task that is being (or was) evaluated. From then on the master is
responsible for the task: the server sends "progress" every few seconds; a server that stops
reporting (killed, disconnected for longer than MASTER.SERVER_LOST_S) has lost the task, which counts
as a failed attempt and is issued again. A server that dies between taking a task and acknowledging
it makes the broker redeliver it, with ``x-delivery-count`` one higher; a server never evaluates a
task whose tries (``attempt`` + delivery count) exceed ``max_attempts``.
"""

import dataclasses
import logging
import os
import re
import ssl
import time
import urllib.parse

import pika
import pika.exceptions as pex

logger = logging.getLogger(__name__)

URL_ENV = "DETNAS_AMQP_URL"
# Used only when the broker backend is asked for and neither the config nor DETNAS_AMQP_URL gives a URL.
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
EXPERIMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class BrokerConfigError(RuntimeError):
    """A problem retrying cannot fix: bad credentials, missing vhost or permission, queues declared
    with other arguments, a malformed URL."""


class BrokerUnavailable(RuntimeError):
    """The broker stayed unreachable longer than the configured give-up time."""


def fatal_error(error, url):
    """A BrokerConfigError explaining a fatal pika error (see is_fatal) in words."""
    if isinstance(error, BrokerConfigError):
        return error
    user = urllib.parse.unquote(urllib.parse.urlsplit(url).username or "guest")
    if isinstance(error, (pex.AuthenticationError, pex.ProbableAuthenticationError)):
        why = f"the broker refused the login of user {user!r} (wrong user or password?)"
    elif isinstance(error, (pex.ProbableAccessDeniedError, pex.ConnectionClosedByBroker)):
        why = (
            f"user {user!r} may not use the virtual host (does it exist? `rabbitmqctl set_permissions "
            f"-p VHOST {user} '.*' '.*' '.*'`)"
        )
    else:
        why = "the broker speaks another protocol (is this the AMQP port?)"
    return BrokerConfigError(f"{redact(url)}: {why}: {error!r}")


def resolve_url(url="", use_default=True):
    """The broker URL: `url` if given, else $DETNAS_AMQP_URL, else the localhost default (if allowed)."""
    url = url or os.environ.get(URL_ENV, "")
    if not url and use_default:
        logger.info("no broker URL given (config or $%s); using the default %s", URL_ENV, DEFAULT_URL)
        url = DEFAULT_URL
    if url:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("amqp", "amqps"):
            raise BrokerConfigError(f"broker URL must start with amqp:// or amqps://, got {redact(url)!r}")
    return url


def redact(url):
    """The URL with its password replaced, for logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def connection_parameters(url, heartbeat_s=60, tls_ca_file="", tls_cert_file="", tls_key_file=""):
    """pika parameters for `url`. Heartbeat, timeouts and TLS files are set unless the URL's query
    string sets them (pika's URL options: heartbeat, ssl_options, ...)."""
    try:
        params = pika.URLParameters(url)
    except ValueError as e:
        raise BrokerConfigError(f"bad broker URL {redact(url)!r}: {e}") from None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    if "heartbeat" not in query:
        params.heartbeat = int(heartbeat_s)
    if "blocked_connection_timeout" not in query:
        params.blocked_connection_timeout = 300
    if "socket_timeout" not in query:
        params.socket_timeout = 10
    params.connection_attempts = 1  # we retry ourselves, with back-off and logging
    if url.startswith("amqps") and (tls_ca_file or tls_cert_file) and "ssl_options" not in query:
        context = ssl.create_default_context(cafile=tls_ca_file or None)
        if tls_cert_file:
            context.load_cert_chain(tls_cert_file, tls_key_file or None)
        params.ssl_options = pika.SSLOptions(context, server_hostname=params.host)
    return params


@dataclasses.dataclass(frozen=True)
class QueueNames:
    tasks: str
    results: str
    dead: str
    dlx: str
    notices: str

    @classmethod
    def for_experiment(cls, experiment):
        if not EXPERIMENT_RE.match(experiment or ""):
            raise BrokerConfigError(
                f"experiment name {experiment!r} must be 1-100 characters of letters, "
                "digits, '_', '.', '-' (it names the queues)"
            )
        p = f"detnas.{experiment}"
        return cls(tasks=f"{p}.tasks", results=f"{p}.results", dead=f"{p}.dead", dlx=f"{p}.dlx", notices=f"{p}.notices")


def declare_topology(channel, names):
    """Declare the experiment's exchange and queues (idempotent; same arguments everywhere)."""
    dead_letter = {"x-dead-letter-exchange": names.dlx, "x-dead-letter-routing-key": names.dead}
    try:
        channel.exchange_declare(names.dlx, exchange_type="direct", durable=True)
        channel.queue_declare(names.dead, durable=True)
        channel.queue_bind(names.dead, names.dlx, routing_key=names.dead)
        channel.exchange_declare(names.notices, exchange_type="fanout", durable=True)
        channel.queue_declare(names.tasks, durable=True, arguments=dict(dead_letter, **{"x-queue-type": "quorum"}))
        channel.queue_declare(names.results, durable=True, arguments=dead_letter)
    except pex.ChannelClosedByBroker as e:
        if e.reply_code in (403, 406):
            raise BrokerConfigError(
                f"cannot declare the queues of {names.tasks.rsplit('.', 1)[0]}: {e.reply_text}. A queue of "
                "this name may exist with other arguments (delete it: python -m "
                "distributed_arch_search.search --delete-queues ...) or the user lacks permissions"
            ) from None
        raise


def delete_topology(url, experiment, heartbeat_s=60):
    """Delete the experiment's queues and exchange (tests and `search.py --delete-queues`)."""
    names = QueueNames.for_experiment(experiment)
    connection = pika.BlockingConnection(connection_parameters(url, heartbeat_s))
    try:
        channel = connection.channel()
        for queue in (names.tasks, names.results, names.dead):
            channel.queue_delete(queue)
        channel.exchange_delete(names.dlx)
        channel.exchange_delete(names.notices)
    finally:
        connection.close()


def is_fatal(error):
    """True for broker errors that reconnecting will not fix."""
    if isinstance(error, BrokerConfigError):
        return True
    if isinstance(
        error,
        (
            pex.AuthenticationError,
            pex.ProbableAuthenticationError,
            pex.ProbableAccessDeniedError,
            pex.IncompatibleProtocolError,
        ),
    ):
        return True
    if isinstance(error, pex.ConnectionClosedByBroker) and error.reply_code in (403, 530):
        return True  # access refused / vhost not allowed
    return False


# What a lost broker looks like to a pika client: connection and channel errors, and socket errors.
RECONNECTABLE = (pex.AMQPError, OSError)


class Backoff:
    """Exponential back-off with a cap: initial, 2x initial, ... up to `cap` seconds."""

    def __init__(self, initial=0.5, cap=30.0, give_up_after=0.0):
        self.initial, self.cap, self.give_up_after = initial, cap, give_up_after
        self.reset()

    def reset(self):
        self._next = self.initial
        self._since = None

    def wait(self, what, error):
        """Sleep before the next try; raise `error` when retrying has gone on too long."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
        if self.give_up_after and now - self._since > self.give_up_after:
            raise BrokerUnavailable(
                f"{what}: still unreachable after {now - self._since:.0f} s "
                f"(give-up time {self.give_up_after:g} s): {error!r}"
            ) from error
        logger.warning("%s: %r; retrying in %.1f s", what, error, self._next)
        time.sleep(self._next)
        self._next = min(self._next * 2, self.cap)
