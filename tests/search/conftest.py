"""Fixtures of the search tests: experiments on the real RabbitMQ broker, in a vhost of their own that
is created for the session and deleted afterwards (the shared broker is never stopped or
reconfigured); evaluation servers as processes."""
import uuid

import pytest

from broker_fixtures import TestVhost
from search_testlib import Servers


@pytest.fixture(scope="session")
def amqp_url(amqp_url):
    """The broker of tests/conftest.py, but a vhost of this session's own."""
    vhost = TestVhost(amqp_url)
    yield vhost.url
    vhost.delete()


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
