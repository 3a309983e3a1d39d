"""The test proxy process: an asyncio HTTP/1.1 (or raw TCP) proxy in front of one loopback upstream.

It adds a first-byte delay per request and per new connection (``latency_ms``, like one network
round trip), caps the response bandwidth shared by all connections, applies fault rules
(:mod:`tests.servers.proxy_rules`) and records every request. Keep-alive, chunked bodies and
``Expect: 100-continue`` pass through; request heads are forwarded byte for byte, so signatures
stay valid. In ``tcp`` mode it only pipes bytes (latency and bandwidth, no rules, no records):
cheapest for benchmarks, and it passes TLS through untouched.

A JSON control endpoint on a second port changes rules and link settings at run time:
``GET /requests?since=N``, ``GET /requests/count``, ``GET|POST|DELETE /rules``, ``DELETE /rules/<id>``, ``POST /config``.
Run it as ``python -m tests.servers.proxy --upstream 127.0.0.1:PORT [...]``; it prints
``LISTENING 127.0.0.1:P`` and ``CONTROL 127.0.0.1:C``. Secrets are never recorded: Authorization
and security-token headers only as present/absent, signature-like query values as ``REDACTED``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import re
import signal
import socket
import ssl
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from tests.servers.proxy_rules import Rule, error_body

HEAD_LIMIT = 256 * 1024
CHUNK = 64 * 1024
RECORDED_HEADERS = (
    "host",
    "range",
    "x-amz-request-payer",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "user-agent",
    "content-length",
    "content-type",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-ms-version",
    "x-ms-range",
    "accept-encoding",
    "expect",
    "connection",
)
SECRET_PARAM = re.compile(r"sig|signature|credential|token|secret|password|key|auth", re.I)

Sink = Callable[[bytes], Awaitable[None]]


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Injected"


class Truncated(Exception):
    """The truncation budget of a rule is used up: close the connection."""


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    raw_head: bytes

    @property
    def content_length(self) -> int:
        return int(self.headers.get("content-length", "0") or 0)

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def has_body(self) -> bool:
        return self.chunked or self.content_length > 0

    @property
    def wants_close(self) -> bool:
        return "close" in self.headers.get("connection", "").lower()


def parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return headers


def parse_request(head: bytes) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        path, query = parts.path or "/", parts.query
    else:
        path, _, query = target.partition("?")
    return Request(method.upper(), unquote(path), query, parse_headers(lines[1:-2]), head)


def parse_response(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    return int(lines[0].split(" ", 2)[1]), parse_headers(lines[1:-2])


def redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "REDACTED" if SECRET_PARAM.search(k) else v) for k, v in pairs])


async def copy_exact(reader: asyncio.StreamReader, n: int, sink: Sink) -> None:
    while n > 0:
        data = await reader.read(min(CHUNK, n))
        if not data:
            raise asyncio.IncompleteReadError(b"", n)
        n -= len(data)
        await sink(data)


async def copy_chunked(reader: asyncio.StreamReader, sink: Sink) -> None:
    """Relay a chunked body, framing included, up to and including its trailers."""
    while True:
        line = await reader.readuntil(b"\r\n")
        await sink(line)
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while True:
                trailer = await reader.readuntil(b"\r\n")
                await sink(trailer)
                if trailer == b"\r\n":
                    return
        await copy_exact(reader, size + 2, sink)


async def copy_until_eof(reader: asyncio.StreamReader, sink: Sink) -> None:
    while data := await reader.read(CHUNK):
        await sink(data)


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def close_quietly(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        try:
            writer.close()
        except (OSError, RuntimeError):
            pass


class Link:
    """Latency and a bandwidth cap shared by every connection through the proxy."""

    def __init__(self, latency_ms: float, bandwidth_mbps: float | None) -> None:
        self.configure(latency_ms, bandwidth_mbps)
        self._next_free = 0.0

    def configure(self, latency_ms: float, bandwidth_mbps: float | None) -> None:
        self.latency_ms = float(latency_ms)
        self.bandwidth_mbps = float(bandwidth_mbps) if bandwidth_mbps else None

    async def delay(self) -> None:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)

    async def pace(self, nbytes: int) -> None:
        """Wait until ``nbytes`` more fit through the capped link."""
        if not self.bandwidth_mbps:
            return
        now = time.monotonic()
        start = max(now, self._next_free)
        self._next_free = start + nbytes / (self.bandwidth_mbps * 125_000)
        if self._next_free > now:
            await asyncio.sleep(self._next_free - now)


class Downstream:
    """Writes a response body to the client, paced by the link and cut at a truncation budget."""

    def __init__(self, writer: asyncio.StreamWriter, link: Link, budget: int | None) -> None:
        self.writer, self.link, self.budget, self.sent = writer, link, budget, 0

    async def write(self, data: bytes) -> None:
        cut = self.budget is not None and self.sent + len(data) > self.budget
        if cut:
            data = data[: self.budget - self.sent]
        if data:
            await self.link.pace(len(data))
            self.writer.write(data)
            await self.writer.drain()
            self.sent += len(data)
        if cut:
            raise Truncated


Upstream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Engine:
    """Proxy state: upstream address, link, rules and the request log."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        mode: str,
        latency_ms: float,
        bandwidth_mbps: float | None,
        record: bool,
    ) -> None:
        self.upstream = upstream
        self.mode = mode
        self.link = Link(latency_ms, bandwidth_mbps)
        self.record = record
        self.rules: list[Rule] = []
        self.records: list[dict[str, Any]] = []
        self._next_rule = 1
        self._next_conn = 0

    # ---- request log -------------------------------------------------------------------
    def _begin(self, conn: int, req: Request) -> dict[str, Any]:
        h = req.headers
        rec = {
            "seq": len(self.records),
            "time": time.time(),
            "conn": conn,
            "method": req.method,
            "path": req.path,
            "query": redact_query(req.query),
            "range": h.get("range", ""),
            "request_payer": h.get("x-amz-request-payer", ""),
            "authorization": "authorization" in h,
            "security_token": "x-amz-security-token" in h,
            "headers": {k: h[k] for k in RECORDED_HEADERS if k in h},
            "status": None,
            "bytes": 0,
            "rule": None,
            "outcome": "ok",
            "done": False,
        }
        if self.record:
            self.records.append(rec)
        return rec

    def _match(self, req: Request) -> Rule | None:
        for rule in self.rules:
            if rule.matches(req.method, req.path, req.query, req.headers) and rule.take():
                return rule
        return None

    # ---- HTTP mode ---------------------------------------------------------------------
    async def handle_http(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        self._next_conn += 1
        conn, up = self._next_conn, None
        try:
            await self.link.delay()  # connection setup costs one round trip
            while True:
                try:
                    head = await cr.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    await self._send(cw, 431, {}, b"", keep=False)
                    return
                try:
                    req = parse_request(head)
                except (ValueError, IndexError):
                    await self._send(cw, 400, {}, b"bad request head", keep=False)
                    return
                rec = self._begin(conn, req)
                t0 = time.monotonic()
                try:
                    up, keep = await self._serve(cr, cw, req, up, rec)
                finally:
                    rec["duration_ms"] = round((time.monotonic() - t0) * 1000, 3)
                    rec["done"] = True
                if not keep:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            close_quietly(up[1] if up else None)
            close_quietly(cw)

    async def _serve(
        self,
        cr: asyncio.StreamReader,
        cw: asyncio.StreamWriter,
        req: Request,
        up: Upstream | None,
        rec: dict[str, Any],
    ) -> tuple[Upstream | None, bool]:
        rule = self._match(req)
        rec["rule"] = rule.id if rule else None
        await self.link.delay()
        if rule and rule.delay_ms:
            await asyncio.sleep(rule.delay_ms / 1000)
        if rule and rule.action == "reset":
            rec["outcome"] = "reset"
            reset_connection(cw)
            return up, False
        if rule and rule.action == "status":
            return up, await self._fault_response(cr, cw, req, rule, rec)
        try:
            return await self._forward(cr, cw, req, up, rule, rec)
        except (ConnectionError, asyncio.IncompleteReadError):
            if rec["outcome"] == "ok":
                rec["outcome"] = "interrupted" if rec["status"] else "upstream_error"
            raise

    async def _fault_response(
        self,
        cr: asyncio.StreamReader,
        cw: asyncio.StreamWriter,
        req: Request,
        rule: Rule,
        rec: dict[str, Any],
    ) -> bool:
        keep = not req.wants_close
        if req.has_body:
            if "100-continue" in req.headers.get("expect", "").lower():
                keep = False  # the client has not sent the body and will not reuse the connection
            elif req.chunked:
                await copy_chunked(cr, _discard)
            else:
                await copy_exact(cr, req.content_length, _discard)
        assert rule.status is not None
        body = (rule.body if rule.body is not None else error_body(rule.status)).encode()
        headers = {"Content-Type": "application/xml" if body.startswith(b"<") else "text/plain"}
        headers |= rule.response_headers
        rec.update(
            status=rule.status, outcome="fault", bytes=0 if req.method == "HEAD" else len(body)
        )
        await self._send(cw, rule.status, headers, body, keep=keep, head_only=req.method == "HEAD")
        return keep

    async def _send(
        self,
        cw: asyncio.StreamWriter,
        status: int,
        headers: dict[str, str],
        body: bytes,
        *,
        keep: bool,
        head_only: bool = False,
    ) -> None:
        lines = [f"HTTP/1.1 {status} {reason(status)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += [
            f"Content-Length: {len(body)}",
            f"Connection: {'keep-alive' if keep else 'close'}",
        ]
        cw.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head_only:
            await self.link.pace(len(body))
            cw.write(body)
        await cw.drain()

    async def _connect(self) -> Upstream:
        return await asyncio.open_connection(*self.upstream, limit=HEAD_LIMIT)

    async def _forward(
        self,
        cr: asyncio.StreamReader,
        cw: asyncio.StreamWriter,
        req: Request,
        up: Upstream | None,
        rule: Rule | None,
        rec: dict[str, Any],
    ) -> tuple[Upstream | None, bool]:
        body_task: asyncio.Task[None] | None = None
        for attempt in (0, 1):
            if up is None or up[0].at_eof():
                close_quietly(up[1] if up else None)
                try:
                    up = await self._connect()
                except OSError as e:
                    rec["outcome"] = "upstream_error"
                    rec["status"] = 502
                    await self._send(cw, 502, {}, f"upstream unreachable: {e}".encode(), keep=False)
                    return None, False
            ur, uw = up
            uw.write(req.raw_head)
            if req.has_body:
                body_task = asyncio.create_task(self._copy_request_body(cr, req, uw))
            try:
                status, resp_head, resp_headers = await self._response_head(ur, cw)
                break
            except (asyncio.IncompleteReadError, ConnectionError) as e:
                close_quietly(uw)
                up = None
                if body_task:
                    body_task.cancel()
                stale = isinstance(e, asyncio.IncompleteReadError) and not e.partial
                if attempt == 0 and stale and not req.has_body:
                    continue  # the upstream closed an idle keep-alive connection: retry once
                rec["outcome"] = "upstream_error"
                rec["status"] = 502
                await self._send(cw, 502, {}, b"upstream closed the connection", keep=False)
                return None, False
        rec["status"] = status
        budget = rule.truncate_after if rule and rule.action == "truncate" else None
        down = Downstream(cw, self.link, budget)
        await self.link.pace(len(resp_head))
        cw.write(resp_head)
        keep = not req.wants_close and "close" not in resp_headers.get("connection", "").lower()
        try:
            if req.method == "HEAD" or status in (204, 304):
                pass
            elif "chunked" in resp_headers.get("transfer-encoding", "").lower():
                await copy_chunked(ur, down.write)
            elif "content-length" in resp_headers:
                await copy_exact(ur, int(resp_headers["content-length"]), down.write)
            else:
                await copy_until_eof(ur, down.write)
                keep = False
            await cw.drain()
        except Truncated:
            rec["outcome"] = "truncated"
            close_quietly(uw)
            return None, False
        finally:
            rec["bytes"] = down.sent
        if body_task:
            await body_task
        if not keep:
            close_quietly(uw)
            return None, False
        return up, True

    async def _copy_request_body(
        self, cr: asyncio.StreamReader, req: Request, uw: asyncio.StreamWriter
    ) -> None:
        async def sink(data: bytes) -> None:
            uw.write(data)
            await uw.drain()

        if req.chunked:
            await copy_chunked(cr, sink)
        else:
            await copy_exact(cr, req.content_length, sink)

    async def _response_head(
        self, ur: asyncio.StreamReader, cw: asyncio.StreamWriter
    ) -> tuple[int, bytes, dict[str, str]]:
        """Read the final response head, relaying interim 1xx responses (100 Continue)."""
        while True:
            head = await ur.readuntil(b"\r\n\r\n")
            status, headers = parse_response(head)
            if 100 <= status < 200 and status != 101:
                cw.write(head)
                await cw.drain()
                continue
            return status, head, headers

    # ---- TCP mode ----------------------------------------------------------------------
    async def handle_tcp(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        uw = None
        try:
            await self.link.delay()
            ur, uw = await self._connect()
            await asyncio.gather(self._pipe_up(cr, uw), self._pipe_down(ur, cw))
        except (ConnectionError, OSError):
            pass
        finally:
            close_quietly(uw)
            close_quietly(cw)

    async def _pipe_up(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        """Client to upstream: every chunk arrives ``latency_ms`` late, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def rx() -> None:
            while True:
                data = await src.read(CHUNK)
                queue.put_nowait((time.monotonic() + self.link.latency_ms / 1000, data))
                if not data:
                    return

        async def tx() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if dst.can_write_eof():
                        dst.write_eof()
                    return
                dst.write(data)
                await dst.drain()

        await asyncio.gather(rx(), tx())

    async def _pipe_down(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while data := await src.read(CHUNK):
            await self.link.pace(len(data))
            dst.write(data)
            await dst.drain()
        close_quietly(dst)

    # ---- control endpoint --------------------------------------------------------------
    async def handle_control(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            req = parse_request(await cr.readuntil(b"\r\n\r\n"))
            body = await cr.readexactly(req.content_length)
            status, payload = await self._control(req, json.loads(body) if body else None)
        except (ValueError, TypeError, KeyError) as e:
            status, payload = 400, {"error": str(e)}
        except (asyncio.IncompleteReadError, ConnectionError):
            close_quietly(cw)
            return
        data = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {reason(status)}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        cw.write(head.encode() + data)
        try:
            await cw.drain()
        finally:
            close_quietly(cw)

    async def _control(self, req: Request, body: Any) -> tuple[int, Any]:
        route = (req.method, req.path.rstrip("/"))
        if route == ("GET", "/requests"):
            since = int(dict(parse_qsl(req.query)).get("since", 0))
            return 200, await self._settled_records(since)
        if route == ("GET", "/requests/count"):
            return 200, {"count": len(self.records)}
        if route == ("GET", "/rules"):
            return 200, [r.to_json() for r in self.rules]
        if route == ("POST", "/rules"):
            if self.mode != "http":
                return 400, {"error": "fault rules need the proxy in http mode"}
            rule = Rule.from_json(body or {})
            rule.id, self._next_rule = self._next_rule, self._next_rule + 1
            self.rules.append(rule)
            return 200, {"id": rule.id}
        if route == ("DELETE", "/rules"):
            self.rules.clear()
            return 200, {"ok": True}
        if req.method == "DELETE" and req.path.startswith("/rules/"):
            rule_id = int(req.path.rsplit("/", 1)[1])
            self.rules = [r for r in self.rules if r.id != rule_id]
            return 200, {"ok": True}
        if route == ("POST", "/config"):
            cfg = body or {}
            self.link.configure(
                cfg.get("latency_ms", self.link.latency_ms),
                cfg.get("bandwidth_mbps", self.link.bandwidth_mbps),
            )
            return 200, {
                "latency_ms": self.link.latency_ms,
                "bandwidth_mbps": self.link.bandwidth_mbps,
            }
        if route == ("GET", "/health"):
            return 200, {"ok": True, "mode": self.mode}
        return 404, {"error": f"no control route {req.method} {req.path}"}

    async def _settled_records(self, since: int) -> list[dict[str, Any]]:
        """Records from ``since`` on, after waiting (up to 2 s) for those in flight to finish."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not all(r["done"] for r in self.records[since:]):
            await asyncio.sleep(0.01)
        return self.records[since:]


async def _discard(_data: bytes) -> None:
    return None


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"test proxy: only loopback addresses are allowed, got {host!r}")
    return host, int(port)


async def serve(args: argparse.Namespace) -> None:
    engine = Engine(
        _address(args.upstream),
        mode=args.mode,
        latency_ms=args.latency_ms,
        bandwidth_mbps=args.bandwidth_mbps,
        record=not args.no_record,
    )
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    handler = engine.handle_http if args.mode == "http" else engine.handle_tcp
    host, port = _address(args.listen)
    server = await asyncio.start_server(
        handler, host, port, limit=HEAD_LIMIT, ssl=tls, backlog=1024
    )
    control = await asyncio.start_server(engine.handle_control, "127.0.0.1", 0)
    for label, srv in (("LISTENING", server), ("CONTROL", control)):
        addr = srv.sockets[0].getsockname()
        print(f"{label} {addr[0]}:{addr[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server, control:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.servers.proxy", description=__doc__)
    ap.add_argument("--upstream", required=True, help="host:port of the upstream (loopback)")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--mode", choices=("http", "tcp"), default="http")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--bandwidth-mbps", type=float, default=None)
    ap.add_argument("--no-record", action="store_true", help="do not keep a request log")
    ap.add_argument("--tls-cert", help="serve TLS to clients with this certificate (PEM)")
    ap.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    sys.exit(0)
