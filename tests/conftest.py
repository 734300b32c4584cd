"""Fixtures shared by every test folder."""
import os

import pytest
from broker_testing import broker_unavailable

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture(scope="session")
def amqp_url():
    """The real RabbitMQ broker of the broker tests: AMQP_URL, default guest on localhost.

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
            "await_startup`, or point AMQP_URL at one; DETNAS_SKIP_BROKER_TESTS=1 skips them.")
        broker_unavailable(message)
    return url
