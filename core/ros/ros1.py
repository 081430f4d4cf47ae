"""The ROS 1 transport: rospy from Debian 12 (``ros-core``, ``python3-rospy``, message packages).

Messages are converted between rospy's classes and our dicts generically (``__slots__`` and
``_slot_types``), ``uint8[]`` kept as ``bytes``. A watchdog notices a master that goes away and
comes back (a new ``roscore``) and registers this node's topics with it again: rospy itself keeps
existing peer connections but never re-registers, so without it nodes started after the restart
would not find ours.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from equimanip.ros.transport import Callback, Message, Publisher, Transport, log

PRIMITIVES = {"bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64",
              "string", "byte", "char"}
SUBSCRIBER_BUFFER = 1 << 24  # socket buffer for big clouds; rospy's 64 KiB default defeats queue dropping

INSTALL_HINT = ("ROS 1 is not importable: install it with `bash scripts/run.sh setup` (Debian 12: apt-get install "
                "ros-core python3-rospy python3-sensor-msgs python3-geometry-msgs python3-std-msgs "
                "python3-visualization-msgs; the venv reaches /usr/lib/python3/dist-packages through an appended .pth)")


def import_rospy() -> Any:
    """rospy, or a RuntimeError that says how to install it."""
    try:
        import rospy
    except ImportError as exc:
        raise RuntimeError(f"{INSTALL_HINT} ({exc})") from None
    return rospy


def installed_message_class(msg_type: str) -> type:
    """The rospy class of ``pkg/Type`` from an installed message package (``Header`` is ``std_msgs/Header``)."""
    if msg_type == "Header":
        msg_type = "std_msgs/Header"
    pkg, _, name = msg_type.partition("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError):
        raise ValueError(f"unknown ROS message type {msg_type!r} (is the Debian package python3-{pkg.replace('_', '-')} "
                         "installed?)") from None


def message_class(msg_type: str) -> type:
    """The rospy class of ``pkg/Type``: installed, or a driver type Debian lacks (:mod:`equimanip.ros.driver_msgs`)."""
    from equimanip.ros.driver_msgs import definitions, driver_message_class

    if msg_type in definitions():
        return driver_message_class(msg_type)
    return installed_message_class(msg_type)


def _value_to_msg(slot_type: str, value: Any) -> Any:
    import genpy

    if slot_type in ("time", "duration"):
        cls = genpy.Time if slot_type == "time" else genpy.Duration
        if isinstance(value, dict):
            return cls(int(value.get("secs", value.get("sec", 0))), int(value.get("nsecs", value.get("nanosec", 0))))
        return cls.from_sec(float(value))
    if slot_type in ("uint8[]", "char[]") or (slot_type.startswith(("uint8[", "char[")) and isinstance(value, bytes)):
        return bytes(value)
    if slot_type.endswith("]"):
        base = slot_type[: slot_type.index("[")]
        if base in PRIMITIVES:
            return list(value)
        cls = message_class(base)
        return [to_msg(cls, v) for v in value]
    if slot_type in PRIMITIVES:
        return value
    return to_msg(message_class(slot_type), value)


def to_msg(cls: type, data: Message) -> Any:
    """A rospy message of ``cls`` from a dict; missing fields keep their defaults, unknown ones raise."""
    msg = cls()
    types = dict(zip(cls.__slots__, cls._slot_types))
    for key, value in data.items():
        if key not in types:
            raise ValueError(f"{cls._type} has no field {key!r}; fields: {', '.join(cls.__slots__)}")
        setattr(msg, key, _value_to_msg(types[key], value))
    return msg


def _value_to_dict(slot_type: str, value: Any) -> Any:
    if slot_type in ("time", "duration"):
        return {"secs": int(value.secs), "nsecs": int(value.nsecs)}
    if slot_type.endswith("]"):
        base = slot_type[: slot_type.index("[")]
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        return list(value) if base in PRIMITIVES else [to_dict(v) for v in value]
    if slot_type in PRIMITIVES:
        return value
    return to_dict(value)


def to_dict(msg: Any) -> Message:
    """The dict form of a rospy message (``uint8[]`` as ``bytes``)."""
    return {slot: _value_to_dict(t, getattr(msg, slot)) for slot, t in zip(msg.__slots__, msg._slot_types)}


class _Ros1Publisher(Publisher):
    def __init__(self, pub: Any, cls: type):
        self._pub, self._cls = pub, cls

    def publish(self, msg: Message) -> None:
        self._pub.publish(to_msg(self._cls, msg))

    def num_subscribers(self) -> int | None:
        return self._pub.get_num_connections()


class Ros1Transport(Transport):
    """One rospy node in this process (rospy allows one per process).

    Args:
        node_name: the node's name; ``anonymous`` appends a unique suffix.
        watch_period: seconds between checks of the master (0 disables re-registration).
    """

    name = "ros1"

    def __init__(self, node_name: str, anonymous: bool = False, watch_period: float = 1.0):
        self.rospy = import_rospy()
        import rosgraph

        self.master_uri = rosgraph.get_master_uri()
        log.info("connecting to the ROS master at %s as %s (waits while it is down)", self.master_uri, node_name)
        # our own Ctrl-C handling stops the robot safely; rospy's would exit first. Wall-clock time:
        # no /use_sim_time parameter lookup.
        self.rospy.init_node(node_name, anonymous=anonymous, disable_signals=True, disable_rostime=True)
        self._closed = threading.Event()
        self._subscribers: list[Any] = []
        if watch_period > 0:
            threading.Thread(target=self._watch_master, args=(watch_period,), name="ros1-master-watchdog",
                             daemon=True).start()

    def publisher(self, topic: str, msg_type: str, queue_size: int = 1, latch: bool = False) -> Publisher:
        cls = message_class(msg_type)
        return _Ros1Publisher(self.rospy.Publisher(topic, cls, queue_size=queue_size, latch=latch), cls)

    def subscribe(self, topic: str, msg_type: str, callback: Callback, queue_size: int = 1) -> None:
        cls = message_class(msg_type)

        def on_message(msg: Any) -> None:
            try:
                callback(to_dict(msg))
            except Exception as exc:  # a node must keep serving whatever one message does
                log.exception("%s: callback failed on a message: %s", topic, exc)

        self._subscribers.append(self.rospy.Subscriber(topic, cls, on_message, queue_size=queue_size,
                                                       buff_size=SUBSCRIBER_BUFFER))

    def resolve(self, topic: str) -> str:
        return self.rospy.resolve_name(topic)

    def is_shutdown(self) -> bool:
        return self._closed.is_set() or self.rospy.is_shutdown()

    def shutdown(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self.rospy.signal_shutdown("equimanip node stopped")

    # -- master restarts ---------------------------------------------------------------------
    def _watch_master(self, period: float) -> None:
        import rosgraph

        master = rosgraph.Master(self.rospy.get_caller_id())
        last_pid, lost = None, False
        while not self.is_shutdown():
            try:
                pid = master.getPid()
            except Exception:
                pid = None
            if pid is None:
                if not lost:
                    log.error("ROS master %s is unreachable: keeping open connections, will re-register when it is back",
                              self.master_uri)
                lost = True
            elif last_pid is not None and (lost or pid != last_pid):
                if self._reregister(master, pid):  # else: try again next period
                    lost, last_pid = False, pid
            else:
                lost, last_pid = False, pid
            self._closed.wait(period)

    def _reregister(self, master: Any, pid: int) -> bool:
        from rospy.impl.registration import RegManager, get_registration_listeners, get_topic_manager

        try:
            uri = self.rospy.core.get_node_uri()
            tm = get_topic_manager()
            pubs, subs = tm.get_publications(), tm.get_subscriptions()
            for topic, msg_type in pubs:
                master.registerPublisher(topic, msg_type, uri)
            reg = next((lsn for lsn in get_registration_listeners().listeners if isinstance(lsn, RegManager)), None)
            for topic, msg_type in subs:
                publishers = master.registerSubscriber(topic, msg_type, uri)
                if reg is not None:
                    reg.publisher_update(topic, publishers)  # connect to publishers the new master knows
            log.warning("ROS master is back (pid %s): re-registered %d publications and %d subscriptions", pid, len(pubs),
                        len(subs))
            return True
        except Exception as exc:
            log.error("re-registering with the ROS master failed (will retry): %s", exc)
            return False
