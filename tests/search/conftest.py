"""Fixtures of the search tests: experiments on the real RabbitMQ broker (in the session's own vhost, see
tests/conftest.py; the shared broker is never stopped or reconfigured), evaluation servers as processes.
Tests that restart a broker or change its settings start one of their own (broker_testing.OwnBroker)."""

import uuid

import pytest

from search_testlib import Servers


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
