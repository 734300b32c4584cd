"""Fixtures of the search tests: the real RabbitMQ broker, evaluation servers as processes.

Broker tests read AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2F). When no broker answers
they fail with instructions, unless DETNAS_SKIP_BROKER_TESTS=1 (then they are skipped).
"""
import os
import uuid

import pytest

from search_testlib import DEFAULT_AMQP_URL, Servers, broker_unavailable


@pytest.fixture(scope="session")
def amqp_url():
    import pika

    from distributed_arch_search.transport.amqp import connection_parameters, redact

    url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    error = None
    try:
        pika.BlockingConnection(connection_parameters(url)).close()
    except Exception as e:  # any failure to reach the broker
        error = e
    if error is not None:
        broker_unavailable(
            f"RabbitMQ broker not reachable at {redact(url)} ({error!r}). These tests need a real broker: "
            "`apt-get install -y rabbitmq-server && rabbitmq-server -detached && rabbitmqctl await_startup`, "
            "or point AMQP_URL at one; DETNAS_SKIP_BROKER_TESTS=1 skips them.")
    return url


@pytest.fixture
def experiment(request, amqp_url):
    """A unique experiment name (so queues never collide); its queues are deleted afterwards."""
    from distributed_arch_search.transport.amqp import delete_topology

    name = f"test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")
    yield name
    try:
        delete_topology(amqp_url, name)
    except Exception as e:  # the broker may have been the thing under test
        print(f"could not delete the queues of {name}: {e}")


@pytest.fixture
def servers(amqp_url, tmp_path):
    s = Servers(amqp_url, tmp_path)
    yield s
    s.stop_all()
