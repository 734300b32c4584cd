"""Broker test helpers: what a test does when the real RabbitMQ broker is not there (fail with the
message, or skip when the user opted out with DETNAS_SKIP_BROKER_TESTS=1; CI never sets it), and a
private RabbitMQ node for the tests that stop or reconfigure a broker."""

import os
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


def run_rabbitmqctl(*args, node=None, timeout=60, check=True):
    """rabbitmqctl's stdout (check=True), or its CompletedProcess (check=False)."""
    exe = rabbitmqctl_path()
    if exe is None:
        broker_unavailable("rabbitmqctl not found: this test needs a RabbitMQ installation on this machine")
    cmd = [exe, *(["-n", node] if node else []), *args]
    r = subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)
    return r.stdout if check else r


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnBroker:
    """A RabbitMQ node started by the test: node name, AMQP and distribution ports and data folder of
    its own, no plugins, `rabbit` settings from `settings` (advanced.config). stop() ends it and
    removes the folder."""

    def __init__(self, settings=None):
        if shutil.which("rabbitmq-server") is None:
            broker_unavailable("rabbitmq-server not found: this test starts a broker of its own")
        # Not under pytest's tmp_path: its 0700 folders would shut out the broker's user (rabbitmq).
        self.folder = tempfile.mkdtemp(prefix="detnas-test-broker-")
        self.node = f"detnas-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port = _free_port()
        rabbit = ", ".join(f"{{{k}, {v}}}" for k, v in (settings or {}).items())
        files = {
            "rabbitmq.conf": f"listeners.tcp.default = {self.port}\n",
            "enabled_plugins": "[].\n",
            "advanced.config": f"[{{rabbit, [{rabbit}]}}].\n",
            "rabbitmq-env.conf": "",
        }
        for name, text in files.items():
            with open(os.path.join(self.folder, name), "w") as f:
                f.write(text)
        f = self.folder
        self.env = dict(
            os.environ,
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_DIST_PORT=str(_free_port()),
            RABBITMQ_CONF_ENV_FILE=f"{f}/rabbitmq-env.conf",
            RABBITMQ_CONFIG_FILE=f"{f}/rabbitmq.conf",
            RABBITMQ_ADVANCED_CONFIG_FILE=f"{f}/advanced.config",
            RABBITMQ_ENABLED_PLUGINS_FILE=f"{f}/enabled_plugins",
            RABBITMQ_MNESIA_BASE=f"{f}/mnesia",
            RABBITMQ_LOG_BASE=f"{f}/log",
            RABBITMQ_PID_FILE=f"{f}/broker.pid",
            ERL_CRASH_DUMP=f"{f}/erl_crash.dump",
        )
        if os.geteuid() == 0:  # the packaged wrapper runs the broker as user rabbitmq
            shutil.chown(self.folder, "rabbitmq", "rabbitmq")
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        self._log = open(os.path.join(self.folder, "console.log"), "w")
        self.proc = subprocess.Popen(
            ["rabbitmq-server"], env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.await_startup()

    def ctl(self, *args, timeout=60):
        return run_rabbitmqctl(*args, node=self.node, timeout=timeout)

    def await_startup(self, timeout=180):
        deadline = time.monotonic() + timeout
        while True:  # the node must first register with epmd before await_startup can reach it
            if self.proc.poll() is not None:
                raise RuntimeError(f"the test broker exited ({self.proc.returncode}); see {self.folder}/log")
            r = run_rabbitmqctl("await_startup", node=self.node, timeout=timeout, check=False)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test broker did not start: {r.stderr.strip()[-300:]}")
            time.sleep(1.0)

    def restart_app(self, down_s):
        """stop_app, `down_s` seconds without a broker, start_app: connections drop, queues survive."""
        self.ctl("stop_app")
        try:
            time.sleep(down_s)
        finally:
            self.ctl("start_app")
            self.await_startup()

    def stop(self):
        try:
            run_rabbitmqctl("stop", node=self.node, timeout=60, check=False)
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session this test started, nothing else
            self.proc.wait()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)
