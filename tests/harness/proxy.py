"""A TCP proxy on loopback that tests can tell to cut every connection through it.

Each ``ChaosProxy`` forwards one local port to one target port. ``cut()`` resets every
connection at once, wherever the bytes are (mid-request, between a request and its
response, mid-response); ``start_chaos()`` does that at random intervals in the background.
"""

from __future__ import annotations

import random
import selectors
import socket
import struct
import threading
import time

from tests.harness.kafka import KafkaCluster, free_ports

HOST = "127.0.0.1"


class ChaosProxy:
    def __init__(self, target_port: int, listen_port: int = 0) -> None:
        self.target_port = target_port
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, listen_port))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._cut_requested = False
        self._running = True
        self.cuts = 0
        self._thread = threading.Thread(target=self._run, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Reset every connection through the proxy (new ones are accepted again at once)."""
        with self._lock:
            self._cut_requested = True

    def close(self) -> None:
        self._running = False
        self._thread.join(5)

    def _run(self) -> None:
        try:
            while self._running:
                with self._lock:
                    cut, self._cut_requested = self._cut_requested, False
                if cut:
                    self._reset_all()
                    self.cuts += 1
                for key, _ in self._selector.select(0.05):
                    if key.data is None:
                        self._accept()
                    else:
                        self._pump(key.fileobj, key.data)  # type: ignore[arg-type]
        finally:
            self._reset_all()
            self._selector.close()
            self._listener.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection((HOST, self.target_port), timeout=5)
        except OSError:
            _reset(client)
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pairs[client] = upstream
        self._pairs[upstream] = client
        self._selector.register(client, selectors.EVENT_READ, upstream)
        self._selector.register(upstream, selectors.EVENT_READ, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            data = source.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(source)
            return
        try:
            sink.setblocking(True)
            sink.sendall(data)
            sink.setblocking(False)
        except OSError:
            self._drop(source)

    def _drop(self, sock: socket.socket) -> None:
        other = self._pairs.pop(sock, None)
        if other is not None:
            self._pairs.pop(other, None)
        for s in (sock, other):
            if s is None:
                continue
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError):
                pass
            _reset(s)

    def _reset_all(self) -> None:
        for sock in list(self._pairs):
            self._drop(sock)


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN, as a broken network or a crashed peer would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def run_chaos(proxies: list[ChaosProxy], duration: float, low: float = 0.5, high: float = 1.5,
              stop: threading.Event | None = None, seed: int | None = None) -> int:
    """Cut the connections of one random proxy every ``low``..``high`` seconds for ``duration``
    seconds (or until ``stop`` is set); returns how many cuts were made."""
    rng = random.Random(seed)
    stop = stop or threading.Event()
    deadline = time.monotonic() + duration
    cuts = 0
    while time.monotonic() < deadline and not stop.wait(rng.uniform(low, high)):
        rng.choice(proxies).cut()
        cuts += 1
    return cuts


class ProxiedKafkaCluster(KafkaCluster):
    """A cluster whose clients reach every broker through a :class:`ChaosProxy`.

    Each node gets a third listener, EXTERNAL, advertised at its proxy's port, so a client
    that bootstraps from ``proxied_bootstrap_servers`` sends everything through the proxies
    while the brokers replicate among themselves directly.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._external: dict[int, tuple[int, int]] = {}  # node -> (listener port, proxy port)
        self.proxies: list[ChaosProxy] = []

    def _properties(self, node: object, voters: str) -> dict[str, str]:
        props = super()._properties(node, voters)  # type: ignore[arg-type]
        node_id = node.node_id  # type: ignore[attr-defined]
        if node_id not in self._external:
            listener, proxy = free_ports(2)
            self._external[node_id] = (listener, proxy)
        listener, proxy = self._external[node_id]
        props["listeners"] += f",EXTERNAL://{HOST}:{listener}"
        props["advertised.listeners"] += f",EXTERNAL://{HOST}:{proxy}"
        props["listener.security.protocol.map"] += ",EXTERNAL:PLAINTEXT"
        return props

    def start(self, *args: object, **kwargs: object) -> ProxiedKafkaCluster:
        super().start(*args, **kwargs)  # type: ignore[arg-type]
        self.proxies = [ChaosProxy(listener, proxy) for listener, proxy in self._external.values()]
        return self

    def stop(self, *args: object, **kwargs: object) -> None:
        for proxy in self.proxies:
            proxy.close()
        self.proxies = []
        super().stop(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def proxied_bootstrap_servers(self) -> str:
        return ",".join(f"{HOST}:{proxy.port}" for proxy in self.proxies)
