"""The demo's child processes: each tool run with its output shown and kept in a log, and the
evaluation servers of the broker variant started and stopped (tools/detnas_demo.py)."""

import os
import signal
import subprocess
import sys


class DemoError(RuntimeError):
    pass


class Processes:
    """Runs commands from `cwd` with `env_fn(threads)` as environment, logging to `log_dir`."""

    def __init__(self, cwd, log_dir, env_fn, quiet=False):
        self.cwd, self.log_dir, self.env_fn, self.quiet = cwd, log_dir, env_fn, quiet

    def run(self, name, cmd, threads=None):
        """Run a command, showing its output and keeping it in <log_dir>/<name>.log."""
        log_path = os.path.join(self.log_dir, f"{name}.log")
        print(f"$ {' '.join(cmd)}", flush=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd, cwd=self.cwd, env=self.env_fn(threads), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            tail = b""
            while True:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                log.write(chunk)
                if not self.quiet:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                tail = (tail + chunk)[-3000:]
            code = proc.wait()
        if code != 0:
            raise DemoError(f"{name} failed (exit {code}); full log: {log_path}\n{tail.decode(errors='replace')}")

    def start_servers(self, experiment, commands):
        """One background process per command (an evaluation server each), logged apart."""
        procs = []
        for i, cmd in enumerate(commands):
            log = open(os.path.join(self.log_dir, f"server_{experiment}_{i}.log"), "ab")
            procs.append(subprocess.Popen(cmd, cwd=self.cwd, env=self.env_fn(1), stdout=log, stderr=subprocess.STDOUT))
        print(
            f"started {len(procs)} evaluation servers on the broker (logs: {self.log_dir}/server_{experiment}_*.log)",
            flush=True,
        )
        return procs

    @staticmethod
    def stop_servers(procs):
        """SIGTERM (a server puts its task back and exits), then a kill after 60 s."""
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        print("evaluation servers stopped", flush=True)
