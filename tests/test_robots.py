"""The robot interface: safety limits, the policy runner's stops, the simulated robot, robot configs."""

from __future__ import annotations

import time

import numpy as np
import pytest

from equimanip.robots import (ObservationTimeout, PolicyRunner, Robot, RobotObservation, SafetyError, SafetyLimits,
                              load_robot_config, shipped_robot_configs)
from equimanip.robots.runner import DONE, ERROR, INTERRUPTED, MAX_STEPS, STALE, TIMEOUT, UNSAFE

LIMITS = SafetyLimits((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), max_step=0.05, max_rotation=0.2)


class FakeRobot(Robot):
    """Observations on demand; records actions and holds."""

    def __init__(self, age: float = 0.0, fail_after: int | None = None, timeout_after: int | None = None):
        self.age, self.fail_after, self.timeout_after = age, fail_after, timeout_after
        self.actions: list[np.ndarray] = []
        self.holds = 0
        self.observed = 0

    def connect(self) -> None: ...

    def observe(self, timeout: float = 1.0) -> RobotObservation:
        if self.timeout_after is not None and self.observed >= self.timeout_after:
            raise ObservationTimeout("no image")
        self.observed += 1
        return RobotObservation({"depth": np.zeros((1, 8, 8), np.float32), "holding": np.zeros(1, np.float32)},
                                time.time() - self.age)

    def send_action(self, action: np.ndarray) -> None:
        if self.fail_after is not None and len(self.actions) >= self.fail_after:
            raise RuntimeError("driver fault")
        self.actions.append(action)

    def hold(self) -> None:
        self.holds += 1

    def disconnect(self) -> None: ...


def forward(obs):
    return np.array([1.0, 1.0, 0.0, 0.0, 0.0], np.float32)


# ---------------------------------------------------------------------------------------------
# Safety limits
def test_limits_scale_a_long_step_down_to_max_step():
    action, limited = LIMITS.apply([1, 1, 1, 1, 0], dpos=0.05, drot=0.4, position=(0.5, 0.5, 0.5))
    assert np.linalg.norm(action[1:4] * 0.05) == pytest.approx(0.05, abs=1e-6)
    assert limited == ["max_step"]


def test_limits_keep_the_target_in_the_workspace():
    action, limited = LIMITS.apply([1, 1, 0, 0, 0], dpos=0.05, drot=0.4, position=(0.98, 0.5, 0.5))
    assert 0.98 + action[1] * 0.05 == pytest.approx(1.0, abs=1e-6)
    assert "workspace" in limited


def test_limits_clip_the_rotation():
    action, limited = LIMITS.apply([1, 0, 0, 0, -1], dpos=0.05, drot=0.4)
    assert action[4] * 0.4 == pytest.approx(-0.2)
    assert limited == ["max_rotation"]


def test_limits_pass_a_safe_action_unchanged():
    action, limited = LIMITS.apply([-1, 0.2, -0.1, 0.3, 0.1], dpos=0.05, drot=0.4, position=(0.5, 0.5, 0.5))
    np.testing.assert_allclose(action, [-1, 0.2, -0.1, 0.3, 0.1], atol=1e-7)
    assert limited == []


@pytest.mark.parametrize("bad", [[np.nan, 0, 0, 0, 0], [0, 0, 0], "go"], ids=["nan", "short", "text"])
def test_limits_refuse_actions_that_cannot_be_made_safe(bad):
    with pytest.raises(SafetyError):
        LIMITS.apply(bad, dpos=0.05, drot=0.4)


# ---------------------------------------------------------------------------------------------
# The runner
def test_runner_keeps_the_control_rate():
    robot = FakeRobot()
    report = PolicyRunner(robot, forward, rate_hz=50, limits=LIMITS).run(max_steps=10)
    assert report.reason == MAX_STEPS and len(robot.actions) == 10
    assert 0.17 < report.seconds < 0.5  # 10 periods of 20 ms


def test_runner_applies_the_limits_before_sending():
    robot = FakeRobot()
    PolicyRunner(robot, lambda obs: np.array([1, 5, 5, 5, 5.0]), rate_hz=0, limits=LIMITS).run(max_steps=1)
    (sent,) = robot.actions
    assert np.linalg.norm(sent[1:4] * robot.dpos) <= 0.05 + 1e-6 and abs(sent[4] * robot.drot) <= 0.2 + 1e-6


def test_runner_holds_on_a_stale_observation():
    robot = FakeRobot(age=2.0)
    report = PolicyRunner(robot, forward, rate_hz=0, limits=LIMITS, max_observation_age=0.5).run(max_steps=5)
    assert report.reason == STALE and robot.actions == [] and robot.holds == 1


def test_runner_holds_when_observations_stop():
    robot = FakeRobot(timeout_after=3)
    report = PolicyRunner(robot, forward, rate_hz=0, limits=LIMITS).run(max_steps=10)
    assert report.reason == TIMEOUT and report.steps == 3 and robot.holds == 1


def test_runner_holds_and_reraises_on_a_robot_error():
    robot = FakeRobot(fail_after=2)
    runner = PolicyRunner(robot, forward, rate_hz=0, limits=LIMITS)
    with pytest.raises(RuntimeError, match="driver fault"):
        runner.run(max_steps=10)
    assert robot.holds == 1


def test_runner_holds_on_an_unsafe_policy_output():
    robot = FakeRobot()
    report = PolicyRunner(robot, lambda obs: np.full(5, np.nan), rate_hz=0, limits=LIMITS).run(max_steps=3)
    assert report.reason == UNSAFE and robot.actions == [] and robot.holds == 1


def test_runner_holds_on_ctrl_c():
    robot = FakeRobot()
    calls = []

    def policy(obs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return forward(obs)

    report = PolicyRunner(robot, policy, rate_hz=0, limits=LIMITS).run(max_steps=10)
    assert report.reason == INTERRUPTED and report.steps == 2 and robot.holds == 1


def test_runner_logs_why_it_stopped_before_reraising(caplog):
    robot = FakeRobot()
    runner = PolicyRunner(robot, lambda obs: 1 / 0, rate_hz=0, limits=LIMITS)
    with pytest.raises(ZeroDivisionError):
        runner.run(max_steps=1)
    assert robot.holds == 1
    assert f"stopping the robot ({ERROR}): ZeroDivisionError" in caplog.text


# ---------------------------------------------------------------------------------------------
# The simulated robot
def test_sim_robot_runs_the_expert_to_success():
    from equimanip.envs.sim_robot import SimRobot

    with SimRobot("BlockPicking-v0", seed=0, image_size=32) as robot:
        report = PolicyRunner(robot, lambda obs: robot.tabletop.expert_action(), rate_hz=0).run(max_steps=60)
        assert report.reason == DONE and report.info["is_success"]
        assert report.limited_steps == 0  # the sim's limits are the env's own: the expert is never changed
        names, positions = robot.joint_state()
        assert len(names) == len(positions) == 9
        assert robot.observe().obs["depth"].shape == (1, 32, 32)


def test_sim_robot_matches_the_env_step_for_step():
    """The robot interface adds nothing: the same seed and actions give the env's observations."""
    from equimanip.envs import make
    from equimanip.envs.sim_robot import SimRobot

    env = make("BlockPicking-v0", image_size=32)
    obs, _ = env.reset(seed=3)
    with SimRobot("BlockPicking-v0", seed=3, image_size=32) as robot:
        for _ in range(5):
            action = env.unwrapped.expert_action()
            obs, *_ = env.step(action)
            robot.send_action(action)
            np.testing.assert_array_equal(robot.observe().obs["depth"], obs["depth"])
    env.close()


# ---------------------------------------------------------------------------------------------
# Robot configs
@pytest.mark.parametrize("name", ["franka", "ur", "sim"])
def test_shipped_robot_config_loads(name):
    config = load_robot_config(name)
    assert config.name == name and config.command_topic.startswith("/")
    assert np.all(np.asarray(config.limits.workspace_low) < config.limits.workspace_high)


def test_shipped_robot_configs_are_listed():
    assert {"franka", "ur", "sim"} <= set(shipped_robot_configs())


def test_robot_config_refuses_unknown_keys(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x", "comand_topic": "/typo"}')
    with pytest.raises(ValueError, match="comand_topic"):
        load_robot_config(str(path))


def test_robot_config_refuses_an_unknown_command_type(tmp_path):
    import json
    from importlib.resources import files

    data = json.loads(files("equimanip.assets").joinpath("robots/ur.json").read_text())
    data["command_type"] = "trajectory_msgs/JointTrajectory"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="command_type"):
        load_robot_config(str(path))
