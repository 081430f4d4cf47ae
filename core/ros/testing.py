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
from typing import Any

from equimanip.ros.ros1 import INSTALL_HINT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate a child process, and kill it when it does not end within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_tiny_run(run: Path, image_size: int = 32, seed: int = 0) -> Path:
    """A BC run directory with an untrained small CNN: it loads and acts like a trained one."""
    import torch

    from equimanip.agents.bc import BCConfig, make_network

    torch.set_num_threads(1)  # as the nodes do: two threads on two busy cores are 100× slower
    config = BCConfig(env="equimanip/BlockInBowl-v0", policy="cnn", n_hidden=8,
                      env_options={"dpos": 0.02, "image_size": image_size}).validate()
    torch.manual_seed(seed)
    (run / "config.json").write_text(config.to_json())
    torch.save({"model": make_network(config, image_size).state_dict(), "image_size": image_size}, run / "model.pt")
    return run


def write_robot_config_in_sim(name: str, path: Path) -> Path:
    """A shipped robot config (e.g. ``franka``) with the sim's workspace box, for ``sim-robot --robot`` and
    ``policy-node --robot`` against the simulation: the driver's conventions, the sim's coordinates."""
    import json
    from importlib.resources import files

    root = files("equimanip.assets").joinpath("robots")
    config = json.loads(root.joinpath(f"{name}.json").read_text())
    config["limits"] = json.loads(root.joinpath("sim.json").read_text())["limits"]
    config["name"] = f"{name}_in_sim"
    Path(path).write_text(json.dumps(config, indent=2))
    return Path(path)


def in_process_episode(run: Path, seed: int, max_steps: int, holding_from_fingers: bool = False) -> tuple[Any, list]:
    """The run's policy on one in-process episode (what a loop through ROS must reproduce): the runner's
    report and the actions. ``holding_from_fingers``: feed the policy the holding a finger-JointState
    adapter infers (closed by the previous action and wider than 4 mm) instead of the sim's contacts."""
    import numpy as np

    from equimanip.envs.sim_robot import SimRobot
    from equimanip.robots import PolicyRunner
    from equimanip.ros.policy import load_policy, run_env

    loaded = load_policy(run, device="cpu")
    env_id, options = run_env(run)
    actions: list = []
    with SimRobot(env_id, seed=seed, max_episode_steps=max_steps, **options) as robot:

        def act(obs):
            if holding_from_fingers:
                closed = bool(actions) and actions[-1][0] <= 0
                obs = {**obs, "holding": np.array([float(closed and robot.finger_width() > 0.004)], np.float32)}
            actions.append(loaded.act(obs))
            return actions[-1]

        report = PolicyRunner(robot, act, rate_hz=0).run()
    return report, actions


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


class NodeProcess:
    """An ``equimanip ...`` command as a subprocess, its stderr in ``log``; stopped with SIGTERM
    (the nodes hold the robot, then exit), killed if that takes longer than 10 s."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None):
        import sys

        self.log = Path(log)
        self._file = open(self.log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "equimanip", *args], env=env, stdout=subprocess.PIPE,
                                     stderr=self._file, text=True, cwd=cwd)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float) -> bool:
        """Whether ``text`` appears in the log within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while text not in self.text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                return text in self.text()
            time.sleep(0.05)
        return True

    def wait(self, timeout: float) -> str:
        """Its stdout once it exits; ``TimeoutError`` (after stopping it) if it runs longer than ``timeout``."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TimeoutError(f"node did not finish in {timeout} s; log:\n{self.text()[-3000:]}") from None
        return out

    def stop(self) -> None:
        stop_process(self.proc)
        self._file.close()


def start_roscore(attempts: int = 3) -> Roscore:
    """A started :class:`Roscore` on a free port (another is tried if the port was taken meanwhile).

    Raises ``RuntimeError`` with the install command when ROS 1 is missing: tests must fail then, not skip.
    """
    try:
        import rospy  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"ROS 1 is required: {exc}. {INSTALL_HINT}") from None
    for attempt in range(attempts):
        core = Roscore()
        try:
            core.start()
            return core
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class BridgeServer:
    """Our test rosbridge server (:mod:`equimanip.ros.rosbridge_server`) as a subprocess on a free port."""

    def __init__(self, port: int | None = None, log: Path | None = None):
        self.port = port or free_port()
        self.log = Path(log or tempfile.mktemp(prefix="equimanip-rosbridge-", suffix=".log"))
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        import sys

        with open(self.log, "a") as f:
            self.proc = subprocess.Popen([sys.executable, "-m", "equimanip.ros.rosbridge_server", "--port", str(self.port)],
                                         stdout=f, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the test rosbridge server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the test rosbridge server did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
