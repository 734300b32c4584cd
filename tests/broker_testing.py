"""What a broker test does when the real RabbitMQ broker is not there: fail with the message, or skip
when the user opted out with DETNAS_SKIP_BROKER_TESTS=1 (CI never sets it)."""
import os

import pytest


def broker_unavailable(message):
    if os.environ.get("DETNAS_SKIP_BROKER_TESTS") == "1":
        pytest.skip(message + " (skipped: DETNAS_SKIP_BROKER_TESTS=1)")
    pytest.fail(message, pytrace=False)
