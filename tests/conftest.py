"""Fixtures shared by every test folder."""

import os
import urllib.parse
import uuid

import pytest
from broker_testing import broker_unavailable, rabbitmqctl_path, run_rabbitmqctl

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture(scope="session")
def amqp_url():
    """The real RabbitMQ broker of the broker tests, in a virtual host of this test session: AMQP_URL
    (default guest on localhost). On a broker of this machine the vhost is created here with
    rabbitmqctl and deleted afterwards, so the tests never touch anything of anybody else; a remote
    AMQP_URL is used as given.

    When no broker answers the test fails with instructions, unless DETNAS_SKIP_BROKER_TESTS=1
    (then it is skipped).
    """
    import pika

    from distributed_arch_search.transport.amqp import connection_parameters, redact

    url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    try:
        pika.BlockingConnection(connection_parameters(url)).close()
    except Exception as e:  # any failure to reach the broker
        message = (
            f"RabbitMQ broker not reachable at {redact(url)} ({e!r}). These tests need a real broker: "
            "`apt-get install -y rabbitmq-server && rabbitmq-server -detached && rabbitmqctl "
            "await_startup`, or point AMQP_URL at one; DETNAS_SKIP_BROKER_TESTS=1 skips them."
        )
        broker_unavailable(message)
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or rabbitmqctl_path() is None:
        yield url
        return
    vhost = f"detnas-test-{uuid.uuid4().hex[:10]}"
    run_rabbitmqctl("add_vhost", vhost)
    try:
        run_rabbitmqctl(
            "set_permissions", "-p", vhost, urllib.parse.unquote(parts.username or "guest"), ".*", ".*", ".*"
        )
        yield urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(vhost, safe="")))
    finally:
        run_rabbitmqctl("delete_vhost", vhost)
