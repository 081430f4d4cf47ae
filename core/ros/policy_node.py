"""``equimanip ros policy-node``: a trained policy driving a robot through ROS topics."""

from __future__ import annotations

from dataclasses import dataclass

from equimanip.robots import PolicyRunner, RobotConfig
from equimanip.robots.runner import INTERRUPTED, STALE, TIMEOUT, UNSAFE
from equimanip.ros.policy import LoadedPolicy
from equimanip.ros.ros_robot import STATE_WAIT, RosRobot
from equimanip.ros.transport import Transport, log


@dataclass
class PolicyNodeStats:
    actions: int = 0
    holds: int = 0
    seconds: float = 0.0


def run_policy_node(transport: Transport, policy: LoadedPolicy, config: RobotConfig, rate_hz: float | None = None,
                    max_age: float = 0.5, max_actions: int | None = None, observation_timeout: float = 1.0,
                    state_wait: float = STATE_WAIT) -> PolicyNodeStats:
    """Serve until shutdown (or ``max_actions``): act on each new image at ``rate_hz`` at most.

    Stale or missing observations and unsafe actions hold the robot and the node waits for fresh
    input; it never exits on bad input. Ctrl-C holds the robot and returns.
    """
    rate = float(rate_hz or config.control_rate_hz)
    robot = RosRobot(transport, config, max_age=max_age, state_wait=state_wait, dpos=policy.dpos, drot=policy.drot,
                     image_size=policy.image_size, control_rate_hz=rate)
    robot.connect()
    runner = PolicyRunner(robot, policy.act, rate_hz=rate, observation_timeout=observation_timeout,
                          max_observation_age=max_age)
    stats = PolicyNodeStats()
    waiting = False
    log.info("policy node: %s policy, %.1f Hz, %d px depth, dpos %.3f m", policy.env_id, rate, policy.image_size, policy.dpos)
    try:
        while not transport.is_shutdown() and (max_actions is None or stats.actions < max_actions):
            report = runner.run(max_steps=None if max_actions is None else max_actions - stats.actions, stop_on_done=False)
            stats.actions += report.steps
            stats.seconds += report.seconds
            if report.steps:
                waiting = False
            if report.reason == INTERRUPTED:
                break
            if report.reason in (STALE, TIMEOUT, UNSAFE):
                stats.holds += 1
                if not waiting:  # one line per outage, not one per second
                    log.warning("robot held (%s: %s); waiting for fresh observations", report.reason, report.message)
                waiting = report.reason != UNSAFE
    finally:
        robot.disconnect()
    log.info("policy node stopped after %d actions (%d holds, skipped messages: %s)", stats.actions, stats.holds,
             robot.checks.skipped or "none")
    return stats
