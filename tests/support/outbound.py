"""A stand-in for the internet: an HTTP(S) proxy that records every attempt to go out.

Services under test get HTTP_PROXY/HTTPS_PROXY pointing here, so any call to
Stripe (or anywhere else) shows up in `attempts` instead of leaving the machine.
"""

from __future__ import annotations

import asyncio

from tests.support.system import free_port


class OutboundRecorder:
    def __init__(self) -> None:
        self.port = free_port()
        self.attempts: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._record, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _record(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            self.attempts.append(request_line.decode(errors="replace").strip())
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()
