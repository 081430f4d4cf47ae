"""What a node needs from ROS: publish and subscribe dict messages. ROS 1 (rospy) and rosbridge implement it."""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]
Callback = Callable[[Message], None]

log = logging.getLogger("equimanip.ros")


class Publisher(abc.ABC):
    @abc.abstractmethod
    def publish(self, msg: Message) -> None:
        """Send one message (dict form, see :mod:`equimanip.ros.messages`)."""

    def num_subscribers(self) -> int | None:
        """Subscribers connected to this publisher, where the transport can tell (``None`` where not)."""
        return None


class Transport(abc.ABC):
    """A connection to a ROS graph under one node name.

    Subscriptions keep at most ``queue_size`` messages waiting (older ones are dropped), so a flood
    of messages cannot grow memory; callbacks run on the transport's threads.
    """

    name: str = "transport"

    @abc.abstractmethod
    def publisher(self, topic: str, msg_type: str, queue_size: int = 1, latch: bool = False) -> Publisher:
        """A publisher of ``msg_type`` (``pkg/Type``) on ``topic``."""

    @abc.abstractmethod
    def subscribe(self, topic: str, msg_type: str, callback: Callback, queue_size: int = 1) -> None:
        """Call ``callback(msg_dict)`` for the messages on ``topic``."""

    @abc.abstractmethod
    def is_shutdown(self) -> bool:
        """True once the node should stop (Ctrl-C, ``shutdown``)."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Unregister and close; idempotent."""

    def resolve(self, topic: str) -> str:
        """The topic name as the transport will use it (private ``~name`` resolved)."""
        return topic

    def sleep_until(self, deadline: float) -> None:
        """Sleep until ``time.monotonic()`` reaches ``deadline``, waking early on shutdown."""
        while not self.is_shutdown():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.05))


class LatestMessage:
    """A one-slot mailbox: the newest message wins, readers wait for a new one. Bounded by design."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: Any = None
        self._count = 0

    def put(self, value: Any) -> None:
        with self._cond:
            self._value = value
            self._count += 1
            self._cond.notify_all()

    def get(self, newer_than: int = 0, timeout: float | None = None) -> tuple[Any, int]:
        """The newest value and its count, waiting up to ``timeout`` s for one with count > ``newer_than``."""
        with self._cond:
            self._cond.wait_for(lambda: self._count > newer_than, timeout=timeout)
            return self._value, self._count

    @property
    def count(self) -> int:
        return self._count


def connect(node_name: str, rosbridge: str | None = None, ros2: bool = False, timeout: float = 10.0) -> Transport:
    """ROS 1 through rospy (default), or rosbridge at ``HOST:PORT`` through roslibpy (``ros2``: ROS 2 field names;
    ``timeout``: seconds to wait for the rosbridge server)."""
    if rosbridge:
        from equimanip.ros.rosbridge import RosbridgeTransport

        host, _, port = rosbridge.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--rosbridge expects HOST:PORT, got {rosbridge!r}")
        return RosbridgeTransport(node_name, host, int(port), ros2=ros2, timeout=timeout)
    from equimanip.ros.ros1 import Ros1Transport

    return Ros1Transport(node_name)
