"""The mock cluster's network side: one background thread, one ``selectors`` loop, every broker's sockets.

Each broker listens on its own 127.0.0.1 port.  A connection reads frames with the producer's
:class:`~josef._core.protocol.FrameReader` and answers them in order.  Like a Kafka broker it works on one
request per connection at a time: the next request is read only once the previous response is on its way,
so a slow acks=all append or a long-polling Fetch holds up that connection only.

All cluster state belongs to this thread.  Other threads reach it through :meth:`Server.call`, which runs
a function on the loop and waits for its result, so there are no locks in handlers.

Hostile input: a frame the codec cannot parse (or that is too large, or names an API version the mock
does not speak) closes that connection and nothing else.  A handler that fails on input it should have
rejected is a bug in the mock: the connection is closed and the error is kept in ``internal_errors``.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from josef._core.protocol import ApiKey, FrameReader, UnsupportedRequestError, decode_request, encode_response
from josef.errors import ErrorCode, ProtocolError
from josef.testing.groups import expire
from josef.testing.handlers import HANDLERS, Reply, Request, partitions_named
from josef.testing.handlers.cluster_info import api_versions_body
from josef.testing.handlers.transactions import abort_expired
from josef.testing.holds import Hold
from josef.testing.security import MockSecurity, SaslSession
from josef.testing.state import ClusterState

__all__ = ["Server"]

log = logging.getLogger("josef.testing")

T = TypeVar("T")
_SASL_APIS = (ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE)
_MAX_SLEEP = 0.25
_TXN_SWEEP_INTERVAL = 0.05
_GROUP_SWEEP_INTERVAL = 0.05


class _Slot:
    """The response a connection owes, maybe not ready yet."""

    __slots__ = ("api_key", "close", "correlation_id", "due", "throttle_ms", "version", "wait", "wait_until")

    def __init__(self, api_key: int, version: int, correlation_id: int, due: float, reply: Reply,
                 throttle_ms: int) -> None:
        self.api_key = api_key
        self.version = version
        self.correlation_id = correlation_id
        self.due = due
        self.close = reply.close
        self.throttle_ms = throttle_ms
        body = reply.body
        self.wait: Callable[[bool], Mapping[str, Any] | None] = reply.wait or (lambda force: body)
        self.wait_until = max(reply.wait_until, due)


class _Connection:
    __slots__ = ("broker", "close_when_flushed", "closed", "held", "id", "muted_until", "out", "pending", "reader",
                 "sasl", "sock", "tls_pending", "writing")

    def __init__(self, sock: socket.socket, broker: int, max_frame_size: int, conn_id: int) -> None:
        self.id = conn_id
        self.held = False  # a request of this connection is parked by a hold
        self.sock = sock
        self.broker = broker
        self.reader = FrameReader(max_frame_size)
        self.out = bytearray()
        self.pending: _Slot | None = None
        self.muted_until = 0.0
        self.closed = False
        self.close_when_flushed = False
        self.writing = False
        self.tls_pending = False  # the server side of the TLS handshake is not done yet
        self.sasl: SaslSession | None = None


class _Listener:
    __slots__ = ("broker", "sock")

    def __init__(self, broker: int, sock: socket.socket) -> None:
        self.broker = broker
        self.sock = sock


class Server:
    def __init__(self, state: ClusterState, max_frame_size: int) -> None:
        self.state = state
        self.max_frame_size = max_frame_size
        self.internal_errors: list[str] = []
        self.connections_closed_for_bad_input = 0
        self.security: MockSecurity | None = None  # TLS / SASL of every listener (testing/security.py)
        self.tls_failures = 0
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._listeners: dict[int, _Listener] = {}
        self._conns: set[_Connection] = set()
        self._running = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._last_txn_sweep = 0.0
        self._last_group_sweep = 0.0
        self._next_conn_id = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def listen(self, broker: int, host: str, port: int) -> int:
        """Open (or reopen) a broker's listening socket; returns its port.  Loop thread, or before start."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
        listener = _Listener(broker, sock)
        self._listeners[broker] = listener
        self._sel.register(sock, selectors.EVENT_READ, listener)
        bound: int = sock.getsockname()[1]
        return bound

    def unlisten(self, broker: int) -> None:
        """Stop accepting for ``broker`` and close its connections (the broker "goes down")."""
        listener = self._listeners.pop(broker, None)
        if listener is not None:
            self._sel.unregister(listener.sock)
            listener.sock.close()
        self.close_connections(broker)

    def close_connections(self, broker: int | None = None) -> int:
        victims = [c for c in self._conns if broker is None or c.broker == broker]
        for conn in victims:
            self._close(conn)
        return len(victims)

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name="josef-mock-cluster", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                self.call(self._shutdown)
            except RuntimeError:
                pass
            thread.join(10)
        elif thread is None:
            self._cleanup_once()
        self._stopped = True
        self._thread = None

    def _shutdown(self) -> None:
        self._running = False

    def _cleanup_once(self) -> None:
        if self._sel.get_map() is not None:
            self._cleanup()

    def _cleanup(self) -> None:
        for conn in list(self._conns):
            self._close(conn)
        for broker in list(self._listeners):
            self.unlisten(broker)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    @property
    def on_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run ``fn`` on the loop thread and return its result (directly when already on it)."""
        if self._stopped:
            raise RuntimeError("the mock cluster is stopped")
        if self.on_loop_thread or self._thread is None:
            return fn()
        if not self._thread.is_alive():
            raise RuntimeError("the mock cluster is stopped")
        future: Future[T] = Future()
        self._commands.put((fn, future))
        self.wake()
        return future.result(timeout)

    def wake(self) -> None:
        try:
            self._wake_w.send(b"\x00")
        except (BlockingIOError, OSError):
            pass

    # -- the loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._running:
                now = time.monotonic()
                events = self._sel.select(self._sleep_time(now))
                for key, mask in events:
                    target = key.data
                    if target is None:
                        self._run_commands()
                    elif isinstance(target, _Listener):
                        self._accept(target)
                    elif isinstance(target, _Connection):
                        if mask & selectors.EVENT_WRITE and not target.closed:
                            self._write(target)
                        if mask & selectors.EVENT_READ and not target.closed:
                            self._read(target)
                self._tick(time.monotonic())
        except Exception:  # a bug in the loop itself: keep it visible, then stop cleanly
            self.internal_errors.append(traceback.format_exc())
            log.exception("josef mock cluster loop crashed")
        finally:
            self._running = False
            self._cleanup()
            while True:
                try:
                    _, future = self._commands.get_nowait()
                except queue.Empty:
                    break
                future.set_exception(RuntimeError("the mock cluster is stopped"))

    def _run_commands(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while True:
            try:
                fn, future = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def _sleep_time(self, now: float) -> float:
        wake = now + _MAX_SLEEP
        for conn in self._conns:
            slot = conn.pending
            if slot is not None:
                wake = min(wake, slot.due if slot.due > now else slot.wait_until)
            elif conn.muted_until > now and conn.reader.buffered:
                wake = min(wake, conn.muted_until)
        for partition in self.state.all_partitions() if self._any_pending_hw() else ():
            if partition.pending_hw:
                wake = min(wake, partition.pending_hw[0][0])
        return max(wake - now, 0.0)

    def _any_pending_hw(self) -> bool:
        return self.state.config.replication_delay > 0

    def _tick(self, now: float) -> None:
        if self._any_pending_hw():
            for partition in self.state.all_partitions():
                if partition.pending_hw:
                    partition.advance_high_watermark(now)
        if now - self._last_txn_sweep > _TXN_SWEEP_INTERVAL and self.state.transactions:
            self._last_txn_sweep = now
            abort_expired(self.state, now, int(time.time() * 1000))
        if now - self._last_group_sweep > _GROUP_SWEEP_INTERVAL and self.state.groups:
            self._last_group_sweep = now
            for group in list(self.state.groups.values()):
                expire(group, now)
        for conn in list(self._conns):
            if not conn.closed:
                self._advance(conn, now)

    # -- connections -----------------------------------------------------------------------------

    def _accept(self, listener: _Listener) -> None:
        try:
            sock, _ = listener.sock.accept()
        except (BlockingIOError, InterruptedError, OSError):
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        security = self.security
        if security is not None and security.tls:
            assert security.ssl_context is not None
            sock = security.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self._next_conn_id += 1
        conn = _Connection(sock, listener.broker, self.max_frame_size, self._next_conn_id)
        if security is not None:
            conn.tls_pending = security.tls
            conn.sasl = SaslSession(security) if security.sasl else None
        self._conns.add(conn)
        self._sel.register(sock, selectors.EVENT_READ, conn)

    def _tls_step(self, conn: _Connection) -> None:
        """One non-blocking step of the server's TLS handshake."""
        assert isinstance(conn.sock, ssl.SSLSocket)
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            return
        except ssl.SSLWantWriteError:
            if not conn.writing:
                conn.writing = True
                self._sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
            return
        except (ssl.SSLError, OSError):
            self.tls_failures += 1
            self._close(conn)
            return
        conn.tls_pending = False
        if conn.writing:
            conn.writing = False
            self._sel.modify(conn.sock, selectors.EVENT_READ, conn)
        self._read(conn)  # the client's first request may already be decrypted and waiting

    def _close(self, conn: _Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._conns.discard(conn)
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        try:
            conn.sock.close()
        except OSError:
            pass

    def _read(self, conn: _Connection) -> None:
        if conn.tls_pending:
            self._tls_step(conn)
            return
        try:
            data = conn.sock.recv(1 << 20)
            if isinstance(conn.sock, ssl.SSLSocket):
                while data and conn.sock.pending():
                    data += conn.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        try:
            conn.reader.feed(data)
        except ProtocolError:
            self.connections_closed_for_bad_input += 1
            self._close(conn)
            return
        self._advance(conn, time.monotonic())

    def _write(self, conn: _Connection) -> None:
        if conn.tls_pending:
            self._tls_step(conn)
            return
        if conn.out:
            try:
                sent = conn.sock.send(conn.out)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                sent = 0
            except OSError:
                self._close(conn)
                return
            del conn.out[:sent]
        if conn.out and not conn.writing:
            conn.writing = True
            self._sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
        elif not conn.out:
            if conn.writing:
                conn.writing = False
                self._sel.modify(conn.sock, selectors.EVENT_READ, conn)
            if conn.close_when_flushed:
                self._close(conn)

    def _advance(self, conn: _Connection, now: float) -> None:
        """Send the owed response when it is ready, then handle the next buffered request, and so on."""
        while not conn.closed and not conn.close_when_flushed:
            slot = conn.pending
            if slot is not None:
                if now < slot.due:
                    return
                body = slot.wait(now >= slot.wait_until)
                if body is None:
                    return
                conn.pending = None
                if slot.throttle_ms:
                    conn.muted_until = now + slot.throttle_ms / 1000
                try:
                    conn.out += encode_response(slot.api_key, slot.version, slot.correlation_id, body)
                except Exception:
                    self._internal_error(conn, f"cannot encode {ApiKey(slot.api_key).name} v{slot.version} response")
                    return
                if slot.close:
                    conn.close_when_flushed = True
                self._write(conn)
                continue
            if now < conn.muted_until or conn.held:
                return
            try:
                frame = conn.reader.next_frame()
            except ProtocolError:
                self.connections_closed_for_bad_input += 1
                self._close(conn)
                return
            if frame is None:
                return
            self._handle(conn, frame, now)

    def _internal_error(self, conn: _Connection, what: str) -> None:
        self.internal_errors.append(f"{what}\n{traceback.format_exc()}")
        log.error("josef mock cluster: %s; closing the connection", what, exc_info=True)
        self._close(conn)

    # -- requests --------------------------------------------------------------------------------

    def _handle(self, conn: _Connection, frame: bytes, now: float) -> None:
        state = self.state
        try:
            header, body = decode_request(frame)
        except UnsupportedRequestError as exc:
            h = exc.header
            if h.api_key == ApiKey.API_VERSIONS:
                # Too new for us: answer in v0 with our ApiVersions range, so the client can step down.
                answer = api_versions_body(state, ErrorCode.UNSUPPORTED_VERSION)
                answer["api_keys"] = [a for a in answer["api_keys"] if a["api_key"] == ApiKey.API_VERSIONS]
                conn.out += encode_response(ApiKey.API_VERSIONS, 0, h.correlation_id, answer)
                self._write(conn)
            else:
                self._unsupported(conn, h.api_key, h.api_version, h.client_id)
            return
        except ProtocolError:
            self.connections_closed_for_bad_input += 1
            self._close(conn)
            return
        api_key, version = header.api_key, header.api_version
        if conn.sasl is not None and (api_key in _SASL_APIS or not conn.sasl.allows(api_key)):
            self._sasl(conn, header.correlation_id, api_key, version, body)
            return
        span = state.api_versions.get(api_key)
        if span is None or not span[0] <= version <= span[1] or api_key not in HANDLERS:
            self._unsupported(conn, api_key, version, header.client_id)
            return
        state.log_request(conn.broker, api_key, version, header.client_id, conn.id, body)
        req = Request(conn.broker, api_key, version, header.correlation_id, header.client_id, body, now,
                      int(time.time() * 1000))
        for hold in state.holds:
            if hold.matches(req):
                conn.held = True
                hold.park((conn, req))
                return
        self._process(conn, req, now)

    def _unsupported(self, conn: _Connection, api_key: int, version: int, client_id: str | None) -> None:
        """A request for an API or version not advertised: Kafka closes the connection, and so does the mock;
        the record makes the client's mistake visible to the test (see ``unsupported_requests``)."""
        self.state.unsupported_requests.append((conn.broker, api_key, version, client_id))
        log.warning("josef mock cluster: API %d v%d is not supported (client %r); closing the connection",
                    api_key, version, client_id)
        self.connections_closed_for_bad_input += 1
        self._close(conn)

    def release(self, hold: Hold, count: int | None) -> None:
        """Handle the oldest ``count`` (None: all) requests parked by ``hold``.  Loop thread."""
        entries = hold.parked[:count] if count is not None else list(hold.parked)
        del hold.parked[:len(entries)]
        hold.unparked(len(entries))
        if not hold.active and hold in self.state.holds:
            self.state.holds.remove(hold)
        now = time.monotonic()
        for conn, req in entries:
            conn.held = False
            if conn.closed:
                continue
            req.now, req.now_ms = now, int(time.time() * 1000)
            self._process(conn, req, now)
            self._advance(conn, now)

    def _process(self, conn: _Connection, req: Request, now: float) -> None:
        """Run a request through the faults and its handler, and queue its response."""
        api_key, version = req.api_key, req.version
        broker = self.state.brokers[conn.broker]
        try:
            reply = self._dispatch(conn, req)
        except Exception:
            self._internal_error(conn, f"{ApiKey(api_key).name} v{version} handler failed")
            return
        if reply is None or conn.closed:
            return
        if reply.body is None and reply.wait is None:
            if reply.close:
                self._close(conn)
            return
        conn.pending = _Slot(api_key, version, req.correlation_id, now + broker.rtt + reply.delay, reply,
                             req.throttle_ms)

    def _sasl(self, conn: _Connection, correlation_id: int, api_key: int, version: int, body: Any) -> None:
        """SaslHandshake / SaslAuthenticate; any other request before authentication closes the
        connection, as a broker does."""
        assert conn.sasl is not None
        if api_key not in _SASL_APIS:
            self.connections_closed_for_bad_input += 1
            self._close(conn)
            return
        conn.out += encode_response(api_key, version, correlation_id, conn.sasl.handle(api_key, version, body))
        if conn.sasl.close_after_reply:
            conn.close_when_flushed = True
        self._write(conn)

    def _dispatch(self, conn: _Connection, req: Request) -> Reply | None:
        """Apply the scripted faults and run the handler; None when the connection was dropped."""
        state = self.state
        partitions: list[tuple[str, int]] = []
        faults = []
        if state.faults.faults:
            partitions = partitions_named(state, req.api_key, req.version, req.body)
            faults = state.faults.match(req.api_key, req.broker, partitions)
        drop_after = False
        delay = 0.0
        for fault in faults:
            if fault.respond is not None:
                continue
            if fault.drop == "before":
                self._close(conn)
                return None
            drop_after = drop_after or fault.drop == "after"
            delay += fault.delay
            req.throttle_ms = max(req.throttle_ms, fault.throttle_ms)
            if fault.error:
                if fault.partition_scoped:
                    for tp in partitions:
                        if tp[0] == fault.topic and (fault.partition is None or tp[1] == fault.partition):
                            req.partition_errors.setdefault(tp, fault.error)
                elif req.error is None:
                    req.error = fault.error
        reply: Reply | None = None
        for fault in faults:
            if fault.respond is not None:
                body = fault.respond(req)
                if body is not None:
                    fault.use()
                    reply = Reply(body)
                    break
        if reply is None:
            reply = HANDLERS[req.api_key](state, req)
        if drop_after:
            self._close(conn)
            return None
        reply.delay += delay
        if reply.wait is not None:
            reply.wait_until += delay
        return reply
