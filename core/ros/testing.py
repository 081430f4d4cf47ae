"""A real ``roscore`` on 127.0.0.1 for tests and benchmarks: a free port each time, always shut down."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from equimanip.ros.ros1 import INSTALL_HINT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ros_env(port: int, home: str | os.PathLike) -> dict[str, str]:
    """Environment of a process that talks to the master on ``port`` (logs under ``home``)."""
    return {**os.environ, "ROS_MASTER_URI": f"http://127.0.0.1:{port}", "ROS_HOSTNAME": "127.0.0.1",
            "ROS_HOME": str(home), "ROS_LOG_DIR": str(Path(home) / "log"), "PYTHONUNBUFFERED": "1"}


class Roscore:
    """A ``roscore -p PORT`` process; :meth:`stop` and :meth:`start` again on the same port (a master restart)."""

    def __init__(self, port: int | None = None, home: str | os.PathLike | None = None):
        if shutil.which("roscore") is None:
            raise RuntimeError(f"roscore is not installed. {INSTALL_HINT}")
        self.port = port or free_port()
        self.home = Path(home or tempfile.mkdtemp(prefix="equimanip-ros-"))
        self.env = ros_env(self.port, self.home)
        self.uri = self.env["ROS_MASTER_URI"]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> None:
        self.proc = subprocess.Popen(["roscore", "-p", str(self.port)], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        import xmlrpc.client

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"roscore exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                xmlrpc.client.ServerProxy(self.uri).getPid("/equimanip_test")
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"roscore on port {self.port} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)  # roscore and the rosout node it started
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def running_roscore(port: int | None = None) -> Iterator[Roscore]:
    core = Roscore(port)
    core.start()
    try:
        yield core
    finally:
        core.stop()
        shutil.rmtree(core.home, ignore_errors=True)
