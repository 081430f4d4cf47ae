"""Drive any :class:`Robot` with a policy at a fixed control rate, and stop it safely."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from equimanip.robots.interface import ObservationTimeout, Robot
from equimanip.robots.safety import SafetyError, SafetyLimits

log = logging.getLogger("equimanip.robots")

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]

# why a run ended
DONE, MAX_STEPS, INTERRUPTED, STALE, TIMEOUT, UNSAFE, ERROR = ("done", "max_steps", "interrupted", "stale_observation",
                                                               "observation_timeout", "unsafe_action", "error")


@dataclass
class RunReport:
    """What a :meth:`PolicyRunner.run` did: steps sent, why it stopped, and timing."""

    steps: int = 0
    reason: str = ""
    message: str = ""
    limited_steps: int = 0  # actions changed by the safety limits
    overruns: int = 0  # control periods the loop could not keep
    seconds: float = 0.0
    info: dict = field(default_factory=dict)  # the last observation's info (simulation: is_success, ...)

    @property
    def rate_hz(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


class PolicyRunner:
    """Run ``policy`` on ``robot`` at ``rate_hz``: observe, act, check, send, wait for the next tick.

    The robot is told to :meth:`~Robot.hold` (zero motion) and the run ends when an observation is
    older than ``max_observation_age`` s (stale), none arrives within ``observation_timeout`` s, an
    action cannot be made safe, the policy or the robot raises (re-raised after holding), or on
    Ctrl-C (``KeyboardInterrupt``, reported as ``interrupted``).

    Args:
        robot: any :class:`Robot`, connected by the caller.
        policy: ``obs dict -> action`` in the envs' layout.
        rate_hz: control rate; ``0`` runs as fast as the robot observes (simulation).
        limits: safety limits applied to every action (default: ``robot.safety_limits()``).
        observation_timeout: seconds to wait for an observation.
        max_observation_age: an older observation is stale.
    """

    def __init__(self, robot: Robot, policy: Policy, rate_hz: float = 10.0, limits: SafetyLimits | None = None,
                 observation_timeout: float = 1.0, max_observation_age: float = 0.5):
        if rate_hz < 0:
            raise ValueError(f"rate_hz must be >= 0, got {rate_hz}")
        self.robot, self.policy, self.rate_hz = robot, policy, float(rate_hz)
        self.limits = limits or robot.safety_limits()
        self.observation_timeout, self.max_observation_age = observation_timeout, max_observation_age

    def run(self, max_steps: int | None = None, stop_on_done: bool = True) -> RunReport:
        """Run until the episode is done, ``max_steps`` actions were sent, or a stop condition."""
        report = RunReport()
        period = 1.0 / self.rate_hz if self.rate_hz > 0 else 0.0
        start = next_tick = time.monotonic()
        try:
            while max_steps is None or report.steps < max_steps:
                seen = self.robot.observe(timeout=self.observation_timeout)
                report.info = seen.info
                if seen.done and stop_on_done:
                    report.reason = DONE
                    break
                age = seen.age()
                if age > self.max_observation_age:
                    self._stop(report, STALE, f"observation is {age:.3f} s old (max {self.max_observation_age} s)")
                    break
                action, limited = self.limits.apply(self.policy(seen.obs), self.robot.dpos, self.robot.drot,
                                                    self.robot.ee_position())
                if limited:
                    report.limited_steps += 1
                    log.info("step %d: action limited (%s)", report.steps, ", ".join(limited))
                self.robot.send_action(action)
                report.steps += 1
                if period:
                    next_tick += period
                    delay = next_tick - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    else:  # late: start a new schedule rather than bursting to catch up
                        report.overruns += 1
                        next_tick = time.monotonic()
            else:
                report.reason = MAX_STEPS
        except KeyboardInterrupt:
            self._stop(report, INTERRUPTED, "Ctrl-C")
        except ObservationTimeout as exc:
            self._stop(report, TIMEOUT, str(exc))
        except SafetyError as exc:
            self._stop(report, UNSAFE, str(exc))
        except BaseException as exc:
            self._stop(report, ERROR, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            report.seconds = time.monotonic() - start
        return report

    def _stop(self, report: RunReport, reason: str, message: str) -> None:
        report.reason, report.message = reason, message
        log.warning("stopping the robot (%s): %s", reason, message)
        try:
            self.robot.hold()
        except Exception as exc:  # hold must not hide the original problem
            log.error("hold failed: %s", exc)
