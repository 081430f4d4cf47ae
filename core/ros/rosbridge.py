"""The rosbridge transport (ROS 2 users, or ROS 1 without rospy): roslibpy over a websocket.

rosbridge speaks JSON: ``uint8[]`` fields travel as base64 strings, which this transport encodes
and decodes so nodes see ``bytes`` as with rospy. With ``ros2=True`` message types are written
``pkg/msg/Type`` and time fields ``sec``/``nanosec`` (ROS 2's names); ``header.seq`` is dropped.
roslibpy runs callbacks on its network thread: each subscription hands messages to its own worker
thread through a bounded mailbox (older messages dropped), so a slow node never blocks the socket
and a flood cannot grow memory. roslibpy reconnects by itself when the server goes away and comes
back; this transport logs both.
"""

from __future__ import annotations

import base64
import collections
import threading
from typing import Any

from equimanip.ros.transport import Callback, Message, Publisher, Transport, log

# message types whose uint8[] field "data" rosbridge sends as base64
BYTES_FIELDS = {"sensor_msgs/Image": "data", "sensor_msgs/PointCloud2": "data", "sensor_msgs/CompressedImage": "data"}


def _encode(value: Any, ros2: bool) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        if ros2 and set(value) == {"secs", "nsecs"}:
            return {"sec": int(value["secs"]), "nanosec": int(value["nsecs"])}
        return {k: _encode(v, ros2) for k, v in value.items() if not (ros2 and k == "seq" and "frame_id" in value)}
    if isinstance(value, (list, tuple)):
        return [_encode(v, ros2) for v in value]
    return value


def _decode(msg_type: str, msg: Message) -> Message:
    key = BYTES_FIELDS.get(msg_type)
    if key and key in msg:
        data = msg[key]
        if isinstance(data, str):
            try:
                msg[key] = base64.b64decode(data, validate=True)
            except ValueError:
                msg[key] = None  # the message checks then say "must be bytes"
        elif isinstance(data, list):
            msg[key] = bytes(data) if all(isinstance(v, int) and 0 <= v < 256 for v in data) else None
    return msg


class _Mailbox:
    """At most ``size`` messages wait; a new one pushes the oldest out."""

    def __init__(self, size: int):
        self._items: collections.deque = collections.deque(maxlen=max(1, size))
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout=timeout):
                return None
            return self._items.popleft()


class _BridgePublisher(Publisher):
    def __init__(self, topic: Any, ros2: bool):
        self._topic, self._ros2 = topic, ros2

    def publish(self, msg: Message) -> None:
        import roslibpy

        self._topic.publish(roslibpy.Message(_encode(msg, self._ros2)))


class RosbridgeTransport(Transport):
    """A rosbridge v2 client (roslibpy) at ``ws://host:port``.

    Args:
        node_name: used in log lines only (rosbridge clients have no node name).
        host, port: the rosbridge websocket server.
        ros2: the graph behind the bridge is ROS 2.
        timeout: seconds to wait for the first connection.
    """

    name = "rosbridge"

    def __init__(self, node_name: str, host: str, port: int, ros2: bool = False, timeout: float = 10.0):
        import roslibpy

        self.node_name, self.url, self.ros2 = node_name, f"ws://{host}:{port}", ros2
        self._closed = threading.Event()
        self._topics: list[Any] = []
        self._connections = 0
        self.ros = roslibpy.Ros(host=host, port=port)
        self.ros.on("ready", self._on_ready)
        self.ros.on("close", self._on_close)
        log.info("connecting to rosbridge at %s as %s%s", self.url, node_name, " (ROS 2)" if ros2 else "")
        try:
            self.ros.run(timeout=timeout)
        except Exception as exc:
            raise RuntimeError(f"no rosbridge server answered at {self.url} within {timeout} s ({exc}); start one "
                               "(ROS 2: `ros2 launch rosbridge_server rosbridge_websocket_launch.xml`)") from None

    def _on_ready(self, _proto: Any) -> None:
        self._connections += 1
        if self._connections > 1:
            log.warning("rosbridge at %s is back: roslibpy re-advertised and re-subscribed our topics", self.url)

    def _on_close(self, _proto: Any) -> None:
        if not self._closed.is_set():
            log.error("rosbridge at %s closed the connection: reconnecting", self.url)

    def _type(self, msg_type: str) -> str:
        pkg, _, name = msg_type.partition("/")
        return f"{pkg}/msg/{name}" if self.ros2 and "/msg/" not in msg_type else msg_type

    def publisher(self, topic: str, msg_type: str, queue_size: int = 1, latch: bool = False) -> Publisher:
        import roslibpy

        t = roslibpy.Topic(self.ros, topic, self._type(msg_type), latch=latch, queue_size=queue_size)
        t.advertise()
        self._topics.append(t)
        return _BridgePublisher(t, self.ros2)

    def subscribe(self, topic: str, msg_type: str, callback: Callback, queue_size: int = 1) -> None:
        import roslibpy

        box = _Mailbox(queue_size)

        def work() -> None:
            while not self._closed.is_set():
                msg = box.get(timeout=0.2)
                if msg is None:
                    continue
                try:
                    callback(_decode(msg_type, msg))
                except Exception as exc:  # a node must keep serving whatever one message does
                    log.exception("%s: callback failed on a message: %s", topic, exc)

        threading.Thread(target=work, name=f"rosbridge-{topic}", daemon=True).start()
        # queue_length: the server also keeps only this many for us
        t = roslibpy.Topic(self.ros, topic, self._type(msg_type), queue_length=queue_size)
        t.subscribe(box.put)
        self._topics.append(t)

    def is_shutdown(self) -> bool:
        return self._closed.is_set()

    def shutdown(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            for t in self._topics:
                if t.is_subscribed:
                    t.unsubscribe()
                if t.is_advertised:
                    t.unadvertise()
            self.ros.close(timeout=2.0)
        except Exception as exc:  # closing a dead connection
            log.debug("rosbridge close: %s", exc)
