"""A small rosbridge v2 server of ours, for tests and benchmarks: NOT the real ``rosbridge_server``.

It speaks the rosbridge v2 JSON protocol over a websocket (``advertise``, ``unadvertise``,
``publish``, ``subscribe``, ``unsubscribe``; other ops get a ``status`` error, service calls a
failed ``service_response``) and relays messages between its clients as if they were one ROS graph.
It knows no message definitions, converts nothing and talks to no ROS: it lets the rosbridge
transport (roslibpy) be tested end to end on 127.0.0.1 without ROS 2, which is neither on PyPI nor
in Debian 12. Latched topics keep their last message for late subscribers. A client whose socket
holds more than ``max_buffer`` unsent bytes gets no more messages until it drains (counted as
dropped): a slow client cannot make the server's memory grow.

    python -m equimanip.ros.rosbridge_server --port 9090
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections import defaultdict
from typing import Any

import txaio
from autobahn.asyncio.websocket import WebSocketServerFactory, WebSocketServerProtocol

log = logging.getLogger("equimanip.ros.rosbridge_server")


class Graph:
    """Topics, their types, subscribers and latched messages."""

    def __init__(self, max_buffer: int):
        self.max_buffer = max_buffer
        self.types: dict[str, str] = {}
        self.subscribers: dict[str, set[BridgeProtocol]] = defaultdict(set)
        self.latched: dict[str, bytes] = {}
        self.dropped = 0
        self.relayed = 0

    def check_type(self, client: BridgeProtocol, topic: str, msg_type: str | None) -> None:
        if not msg_type:
            return
        known = self.types.setdefault(topic, msg_type)
        if known.replace("/msg/", "/") != msg_type.replace("/msg/", "/"):
            client.status("warning", f"{topic} has type {known}, not {msg_type}")

    def publish(self, topic: str, msg: Any, latch: bool) -> None:
        payload = json.dumps({"op": "publish", "topic": topic, "msg": msg}).encode()
        if latch:
            self.latched[topic] = payload
        for client in list(self.subscribers.get(topic, ())):
            if client.buffered() > self.max_buffer:
                self.dropped += 1
                continue
            client.sendMessage(payload)
            self.relayed += 1


class BridgeProtocol(WebSocketServerProtocol):
    graph: Graph

    def onOpen(self) -> None:
        self.subscriptions: set[str] = set()

    def buffered(self) -> int:
        transport = self.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def status(self, level: str, text: str, op_id: str | None = None) -> None:
        msg = {"op": "status", "level": level, "msg": text}
        if op_id:
            msg["id"] = op_id
        self.sendMessage(json.dumps(msg).encode())

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        try:
            msg = json.loads(payload)
            op = msg["op"]
        except (ValueError, KeyError, TypeError) as exc:
            self.status("error", f"not a rosbridge message: {exc}")
            return
        topic = msg.get("topic", "")
        if op == "advertise":
            self.graph.check_type(self, topic, msg.get("type"))
        elif op == "publish":
            self.graph.publish(topic, msg.get("msg", {}), bool(msg.get("latch", False)))
        elif op == "subscribe":
            self.graph.check_type(self, topic, msg.get("type"))
            self.graph.subscribers[topic].add(self)
            self.subscriptions.add(topic)
            if topic in self.graph.latched:
                self.sendMessage(self.graph.latched[topic])
        elif op == "unsubscribe":
            self.graph.subscribers[topic].discard(self)
            self.subscriptions.discard(topic)
        elif op == "unadvertise":
            pass
        elif op == "call_service":
            self.sendMessage(json.dumps({"op": "service_response", "id": msg.get("id"), "service": msg.get("service"),
                                         "values": {}, "result": False}).encode())
        else:
            self.status("error", f"op {op!r} is not supported by this test server", msg.get("id"))

    def onClose(self, wasClean: bool, code: int, reason: str) -> None:
        for topic in getattr(self, "subscriptions", ()):
            self.graph.subscribers[topic].discard(self)


def serve(host: str = "127.0.0.1", port: int = 9090, max_buffer: int = 8 << 20) -> None:
    """Serve until interrupted."""
    graph = Graph(max_buffer)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # autobahn (txaio) schedules its handshake on this loop
    txaio.config.loop = loop
    factory = WebSocketServerFactory(f"ws://{host}:{port}", loop=loop)
    factory.protocol = type("Protocol", (BridgeProtocol,), {"graph": graph})
    factory.setProtocolOptions(maxMessagePayloadSize=0, maxFramePayloadSize=0)
    server = loop.run_until_complete(loop.create_server(factory, host, port))
    log.warning("equimanip's test rosbridge server (not rosbridge_server) on ws://%s:%d", host, port)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        loop.close()
        log.warning("relayed %d messages, dropped %d for slow clients", graph.relayed, graph.dropped)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="equimanip's small rosbridge v2 JSON relay for tests (not the real "
                                                 "rosbridge_server: no ROS behind it, clients only talk to each other)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9090, help="websocket port (default 9090)")
    parser.add_argument("--max-buffer", type=int, default=8 << 20, metavar="BYTES",
                        help="unsent bytes per client beyond which messages to it are dropped (default 8 MiB)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    import signal

    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    serve(args.host, args.port, args.max_buffer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
