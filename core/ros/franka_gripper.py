"""franka_ros's gripper actions as plain topics: both ends, the robot's client and the simulated server.

franka_gripper serves ``<ns>/move`` (``franka_gripper/MoveAction``: go to a width) and
``<ns>/grasp`` (``GraspAction``: close at a force until stopped, success when the width is within
``epsilon`` of the goal's). An action is topics underneath: a goal on ``<ns>/<action>/goal``, the
outcome on ``<ns>/<action>/result``, the server's goals on ``<ns>/<action>/status``. Sending
goals as topics (the message classes come from :mod:`equimanip.ros.driver_msgs`) works over rospy
and rosbridge alike; a goal is sent only when the commanded state changes, because a new goal
pre-empts the running one and a grasp re-started every control period never finishes.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from equimanip.ros.messages import header, stamp
from equimanip.ros.transport import LatestMessage, Message, Transport, log

SUCCEEDED, ABORTED = 3, 4  # actionlib_msgs/GoalStatus
ACTIONS = ("move", "grasp")
_ids = itertools.count(1)


def goal_topic(namespace: str, action: str) -> str:
    return f"{namespace.rstrip('/')}/{action}/goal"


def result_topic(namespace: str, action: str) -> str:
    return f"{namespace.rstrip('/')}/{action}/result"


def status_topic(namespace: str, action: str) -> str:
    return f"{namespace.rstrip('/')}/{action}/status"


def action_type(action: str) -> str:
    return f"franka_gripper/{action.capitalize()}Action"


class FrankaGripperClient:
    """Opens with a Move goal to ``open_width`` and closes with a Grasp goal to width 0 (any object between
    the fingers within ``epsilon`` counts as grasped), waiting up to ``timeout`` s for the result so an
    arm command never races a closing gripper.

    A goal whose result does not come in time is logged and forgotten: the next command sends it again.
    """

    def __init__(self, transport: Transport, namespace: str, open_width: float, speed: float = 0.1,
                 force: float = 20.0, epsilon: float = 0.08, timeout: float = 3.0):
        self.tr, self.namespace = transport, namespace
        self.open_width, self.speed, self.force, self.epsilon, self.timeout = open_width, speed, force, epsilon, timeout
        self._results = {a: LatestMessage() for a in ACTIONS}
        self._status = {a: LatestMessage() for a in ACTIONS}
        self._server_seen: set[str] = set()  # actions whose server we have seen
        self._pubs: dict[str, Any] = {}
        self._sent: bool | None = None  # the open/closed state of the last goal that finished
        self.failures = 0  # goals without a successful result in time (tests and logs read it)

    def connect(self) -> None:
        for a in ACTIONS:
            self._pubs[a] = self.tr.publisher(goal_topic(self.namespace, a), f"{action_type(a)}Goal", queue_size=1)
            self.tr.subscribe(result_topic(self.namespace, a), f"{action_type(a)}Result", self._results[a].put,
                              queue_size=5)
            self.tr.subscribe(status_topic(self.namespace, a), "actionlib_msgs/GoalStatusArray", self._status[a].put,
                              queue_size=1)

    @property
    def closed(self) -> bool:
        """Whether the last goal that finished closed the gripper."""
        return self._sent is False

    def wait_for_server(self, action: str, timeout: float) -> bool:
        """As actionlib's ``wait_for_server``: the server's status has come and, where the transport can
        tell, the server subscribes our goals (a goal published before that is lost)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.tr.is_shutdown():
            connected = self._pubs[action].num_subscribers()
            if self._status[action].count > 0 and (connected is None or connected > 0):
                return True
            time.sleep(0.01)
        return False

    def command(self, open_gripper: bool) -> bool:
        """Send the goal for ``open_gripper`` if it differs from the last; True once it has succeeded."""
        if self._sent is not None and self._sent == open_gripper:
            return True
        action = "move" if open_gripper else "grasp"
        if open_gripper:
            goal = {"width": self.open_width, "speed": self.speed}
        else:
            goal = {"width": 0.0, "epsilon": {"inner": self.epsilon, "outer": self.epsilon}, "speed": self.speed,
                    "force": self.force}
        if action not in self._server_seen:
            if self.wait_for_server(action, self.timeout):
                self._server_seen.add(action)
            else:
                log.warning("%s: no %s action server seen within %.1f s; sending the goal anyway", self.namespace,
                            action, self.timeout)
        t = time.time()
        goal_id = f"/equimanip_{os.getpid()}-{next(_ids)}-{t:.6f}"
        seen = self._results[action].count
        self._pubs[action].publish({"header": header("", t), "goal_id": {"stamp": stamp(t), "id": goal_id},
                                    "goal": goal})
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and not self.tr.is_shutdown():
            result, seen = self._results[action].get(newer_than=seen, timeout=max(deadline - time.monotonic(), 0.0))
            if result is None or result.get("status", {}).get("goal_id", {}).get("id") != goal_id:
                continue  # another client's goal, or nothing yet
            ok = result["status"].get("status") == SUCCEEDED and result.get("result", {}).get("success", False)
            if not ok:
                # a grasp on nothing fails on a real gripper with a tight epsilon: the state still changed
                log.warning("%s: %s goal finished without success: %s", self.namespace, action,
                            result.get("result", {}).get("error") or result["status"].get("text", ""))
            self._sent = open_gripper
            return bool(ok)
        self.failures += 1
        self._sent = None
        log.error("%s: no result for the %s goal within %.1f s (is franka_gripper running?); the next command "
                  "sends it again", self.namespace, action, self.timeout)
        return False


class FrankaGripperServer:
    """The server end for our simulated robot: each goal sets the commanded width at once and answers
    SUCCEEDED (the simulation closes the fingers during the next env step)."""

    def __init__(self, transport: Transport, namespace: str):
        self.tr, self.namespace = transport, namespace
        self.commands = LatestMessage()  # True = open
        self._pubs: dict[str, Any] = {}
        self._status: dict[str, Any] = {}

    def serve(self) -> None:
        for a in ACTIONS:
            self._pubs[a] = self.tr.publisher(result_topic(self.namespace, a), f"{action_type(a)}Result", queue_size=5)
            self._status[a] = self.tr.publisher(status_topic(self.namespace, a), "actionlib_msgs/GoalStatusArray",
                                                queue_size=1)
            self.tr.subscribe(goal_topic(self.namespace, a), f"{action_type(a)}Goal",
                              lambda msg, a=a: self._on_goal(a, msg), queue_size=5)

    def _on_goal(self, action: str, msg: Message) -> None:
        goal_id = msg.get("goal_id", {"stamp": stamp(0.0), "id": ""})
        self.commands.put(action == "move")
        self._pubs[action].publish({"header": header("", time.time()),
                                    "status": {"goal_id": goal_id, "status": SUCCEEDED, "text": ""},
                                    "result": {"success": True, "error": ""}})

    def publish_status(self) -> None:
        """An empty status array on each action, as an idle actionlib server sends (clients wait for it)."""
        for a in ACTIONS:
            self._status[a].publish({"header": header("", time.time()), "status_list": []})
