"""A lean HTTP/1.1 client for the load generator: keep-alive connections, prebuilt requests.

httpx's async client cost 3-5 ms of CPU per request on the 2-core machine (its pool scans
every connection per request, and httpcore re-tries `import sniffio` on every call), so the
generator alone would have taken a core at ~250 orders/s. This one writes a request's bytes as
built before the step and reads the status line, the headers and a Content-Length (or chunked)
body: well under 0.5 ms per request. Plain http:// to the services only.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 as this client reads it."""


def post_request(base_url: str, path: str, body: bytes) -> bytes:
    """The whole `POST path` request, headers and JSON body, as sent on the wire."""
    netloc = urlsplit(base_url).netloc
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Pool:
    """Up to `size` keep-alive connections to one host; `send` waits for a free one."""

    def __init__(self, base_url: str, size: int, timeout_s: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"not a plain http:// URL: {base_url}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout_s = timeout_s
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(size)

    async def send(self, request: bytes) -> int:
        """Send one prebuilt request; its status code (errors: OSError, TimeoutError, ...)."""
        async with self._slots:
            connection = self._idle.pop() if self._idle else None
            try:
                async with asyncio.timeout(self.timeout_s):
                    if connection is None:
                        connection = await asyncio.open_connection(self.host, self.port)
                    status, keep = await _exchange(connection, request)
            except BaseException:
                if connection is not None:
                    connection[1].close()
                raise
            if keep:
                self._idle.append(connection)
            else:
                connection[1].close()
            return status

    async def close(self) -> None:
        while self._idle:
            _, writer = self._idle.pop()
            writer.close()


async def _exchange(connection: Connection, request: bytes) -> tuple[int, bool]:
    """Write the request, read the whole answer; (status, whether the connection stays open)."""
    reader, writer = connection
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"bad status line {status_line[:60]!r}")
    length, chunked, keep = 0, False, parts[0] == b"HTTP/1.1"
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value == b"chunked"
        elif name == b"connection":
            keep = value != b"close"
    if chunked:
        while size := int((await reader.readline()).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readline()
    else:
        await reader.readexactly(length)
    return int(parts[1]), keep
