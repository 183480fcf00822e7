"""The committed AsyncAPI documents describe the services as they are."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("asyncapi_script", ROOT / "scripts" / "asyncapi.py")
assert spec and spec.loader
asyncapi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(asyncapi)


def test_the_committed_asyncapi_documents_are_up_to_date() -> None:
    stale = asyncapi.stale()
    assert not stale, f"docs/asyncapi is out of date for {stale}: run `make asyncapi`"


def test_each_document_lists_what_the_service_consumes_and_publishes() -> None:
    booking = json.loads((ROOT / "docs" / "asyncapi" / "booking.json").read_text())
    channels = " ".join(booking["channels"])
    for consumed in (
        "subscription.activated",
        "sweep.tick",
        "mentee.reprobated",
        "attendance.marked",
    ):
        assert consumed in channels
    for published in ("bookings.scheduled:publish", "booking.unattended:publish"):
        assert published in booking["channels"]


def test_the_gateway_document_lists_what_it_publishes() -> None:
    gateway = json.loads((ROOT / "docs" / "asyncapi" / "gateway.json").read_text())
    for published in ("session.joined", "sweep.tick", "subscription.activated"):
        assert f"{published}:publish" in gateway["channels"]
