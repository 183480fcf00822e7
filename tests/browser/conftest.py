"""What the browser tests share: an SMTP server per module, for the notifications
service that the pages' calendar links and the demo's emails need."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.smtp import RecordingSMTPServer


@pytest.fixture(scope="module")
def smtp() -> Iterator[RecordingSMTPServer]:
    server = RecordingSMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
