"""Broker test helpers: what a test does when the real RabbitMQ broker is not there (fail with the
message, or skip when the user opted out with DETNAS_SKIP_BROKER_TESTS=1; CI never sets it), and a
private RabbitMQ node for the tests that stop or reconfigure a broker."""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest


def broker_unavailable(message):
    if os.environ.get("DETNAS_SKIP_BROKER_TESTS") == "1":
        pytest.skip(message + " (skipped: DETNAS_SKIP_BROKER_TESTS=1)")
    pytest.fail(message, pytrace=False)


def rabbitmqctl_path():
    return shutil.which("rabbitmqctl")


def run_rabbitmqctl(*args, node=None, timeout=60):
    exe = rabbitmqctl_path()
    if exe is None:
        broker_unavailable("rabbitmqctl not found: this test needs a RabbitMQ installation on this machine")
    cmd = [exe, *(["-n", node] if node else []), *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout).stdout


def _free_port(low=20000, high=40000):
    """A TCP port free now, whose distribution port (+20000) is free too."""
    for _ in range(200):
        port = random.randint(low, high)
        if all(_port_free(p) for p in (port, port + 20000)):
            return port
    raise RuntimeError("no free port pair found for a private broker")


def _port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PrivateBroker:
    """A RabbitMQ node of a test's own (own node name, ports, data and log folders), so a test may
    stop, restart or reconfigure it without touching the broker anybody else uses."""

    def __init__(self):
        # Not under pytest's tmp_path: the node runs as the rabbitmq user, which cannot enter it.
        self.folder = tempfile.mkdtemp(prefix="detnas-broker-")
        self.port = _free_port()
        self.node = f"detnas-test-{uuid.uuid4().hex[:8]}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _env(self):
        f = self.folder
        return dict(os.environ, RABBITMQ_NODENAME=self.node, RABBITMQ_NODE_PORT=str(self.port),
                    RABBITMQ_DIST_PORT=str(self.port + 20000), RABBITMQ_MNESIA_BASE=os.path.join(f, "mnesia"),
                    RABBITMQ_LOG_BASE=os.path.join(f, "log"), RABBITMQ_PID_FILE=os.path.join(f, "pid"),
                    RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(f, "enabled_plugins"),
                    RABBITMQ_CONFIG_FILE=os.path.join(f, "rabbitmq"))

    def start(self):
        server = shutil.which("rabbitmq-server")
        if server is None:
            broker_unavailable("rabbitmq-server not found: this test starts a private RabbitMQ node")
        for sub in ("mnesia", "log"):
            os.makedirs(os.path.join(self.folder, sub), exist_ok=True)
        with open(os.path.join(self.folder, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        with open(os.path.join(self.folder, "rabbitmq.conf"), "w") as f:
            f.write(f"listeners.tcp.default = {self.port}\n")
        if os.geteuid() == 0:  # the Debian wrapper runs the node as the rabbitmq user
            subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", self.folder], check=False)
        subprocess.run([server, "-detached"], env=self._env(), check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 180
        while True:  # until the new node has registered with epmd, await_startup fails at once
            try:
                self.ctl("await_startup", "--timeout", "60", timeout=90)
                return self
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def ctl(self, *args, timeout=60):
        return run_rabbitmqctl(*args, node=self.node, timeout=timeout)

    def stop(self):
        try:
            self.ctl("stop", timeout=60)
        except subprocess.SubprocessError:
            pid_file = os.path.join(self.folder, "pid")
            if os.path.exists(pid_file):
                with open(pid_file) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)
