"""Message types of robot drivers that Debian does not package, built at run time from their definitions.

franka_ros's ``franka_gripper`` takes actions (``franka_gripper/MoveAction``, ``GraspAction``,
``HomingAction``), and Debian 12 has no ``franka_gripper`` package. An action is plain topics
underneath (``<ns>/goal``, ``<ns>/result``, ...), so all we need are the message classes: they are
generated here with ``genpy.dynamic`` (as rosbag does for recorded types) from the definitions of
franka_ros's ``.action``/``.msg`` files. A class's MD5 sum is computed from its definition, so it
matches the driver's exactly when the definition does; ``tests/test_ros_driver_msgs.py`` pins
the sums against franka_ros's generated headers.
"""

from __future__ import annotations

from functools import cache

SEPARATOR = "=" * 80

# franka_ros 0.10 franka_gripper/msg and /action (the fields; comments do not enter MD5 sums)
_FRANKA_GRIPPER_MSGS = {"GraspEpsilon": "float64 inner\nfloat64 outer\n"}
_FRANKA_GRIPPER_ACTIONS = {
    "Move": ("float64 width\nfloat64 speed\n", "bool success\nstring error\n", ""),
    "Grasp": ("float64 width\nGraspEpsilon epsilon\nfloat64 speed\nfloat64 force\n", "bool success\nstring error\n", ""),
    "Homing": ("", "bool success\nstring error\n", ""),
    "Stop": ("", "bool success\nstring error\n", ""),
}


def _action_definitions(pkg: str, name: str, goal: str, result: str, feedback: str) -> dict[str, str]:
    """The eight messages genmsg makes from one ``.action`` file."""
    a = f"{pkg}/{name}"
    return {
        f"{a}Goal": goal, f"{a}Result": result, f"{a}Feedback": feedback,
        f"{a}ActionGoal": f"Header header\nactionlib_msgs/GoalID goal_id\n{name}Goal goal\n",
        f"{a}ActionResult": f"Header header\nactionlib_msgs/GoalStatus status\n{name}Result result\n",
        f"{a}ActionFeedback": f"Header header\nactionlib_msgs/GoalStatus status\n{name}Feedback feedback\n",
        f"{a}Action": f"{name}ActionGoal action_goal\n{name}ActionResult action_result\n{name}ActionFeedback action_feedback\n",
    }


@cache
def definitions() -> dict[str, str]:
    """``pkg/Type`` → message definition, for every driver type we build."""
    defs = {f"franka_gripper/{n}": text for n, text in _FRANKA_GRIPPER_MSGS.items()}
    for name, parts in _FRANKA_GRIPPER_ACTIONS.items():
        defs.update(_action_definitions("franka_gripper", name, *parts))
    return defs


def _dependencies(msg_type: str, defs: dict[str, str]) -> list[str]:
    """Every type ``msg_type``'s definition uses, depth first (the order of a ``_full_text``)."""
    pkg = msg_type.split("/")[0]
    seen: list[str] = []

    def visit(t: str) -> None:
        text = defs.get(t)
        if text is None:
            return
        for line in text.splitlines():
            words = line.split("#")[0].split()
            base = words[0].split("[")[0] if words else ""
            if not base or (base[0].islower() and "/" not in base):  # a builtin: float64, string, time, ...
                continue
            full = "std_msgs/Header" if base == "Header" else base if "/" in base else f"{pkg}/{base}"
            if full not in seen:
                seen.append(full)
                visit(full)

    visit(msg_type)
    return seen


def _section(msg_type: str, defs: dict[str, str]) -> str:
    if msg_type in defs:
        return f"{SEPARATOR}\nMSG: {msg_type}\n{defs[msg_type]}"
    from equimanip.ros.ros1 import installed_message_class

    # an installed type's _full_text carries the sections of its own dependencies
    return f"{SEPARATOR}\nMSG: {msg_type}\n{installed_message_class(msg_type)._full_text}"


@cache
def driver_message_class(msg_type: str) -> type:
    """The rospy message class of a driver type (``franka_gripper/GraspActionGoal``, ...).

    Raises:
        ValueError: ``msg_type`` is not one of :func:`definitions`.
    """
    defs = definitions()
    if msg_type not in defs:
        raise ValueError(f"unknown ROS message type {msg_type!r}")
    import genpy.dynamic

    text = "\n".join([defs[msg_type], *(_section(dep, defs) for dep in _dependencies(msg_type, defs))])
    return genpy.dynamic.generate_dynamic(msg_type, text)[msg_type]
