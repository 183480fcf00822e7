"""A local HTTP server that plays the two calls of Stripe's API that booking makes (read
a subscription, add a customer balance transaction), with Stripe's idempotency: a
request sent again with the same `Idempotency-Key` gets the first answer and creates
nothing. It records every request, so a test can check what reached "Stripe"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    method: str
    path: str
    idempotency_key: str | None
    form: dict[str, str]


@dataclass
class FakeStripe:
    """Subscriptions it knows (id -> price per cycle in cents, customer id), what it
    received, and the balance transactions it created, by idempotency key."""

    subscriptions: dict[str, tuple[int, str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Seconds the next balance transactions wait, once created, before they are answered
    # (a crash of the caller meanwhile leaves it created, unanswered).
    answer_after: list[float] = field(default_factory=list)
    url: str = ""

    def balance_credits(self) -> list[dict[str, Any]]:
        return list(self.created.values())

    async def _subscription(self, request: web.Request) -> web.Response:
        self._record(request, {})
        sid = request.match_info["id"]
        if sid not in self.subscriptions:
            return _error(404, "resource_missing", f"No such subscription: '{sid}'")
        price, customer = self.subscriptions[sid]
        item = {"id": "si_1", "object": "subscription_item", "quantity": 1}
        item["price"] = {"id": "price_1", "object": "price", "unit_amount": price}
        return web.json_response(
            {
                "id": sid,
                "object": "subscription",
                "customer": customer,
                "currency": "eur",
                "items": {"object": "list", "data": [item]},
            }
        )

    async def _balance_transaction(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        key = self._record(request, form)
        if key is None:
            return _error(400, "parameter_missing", "this fake wants an Idempotency-Key")
        if key not in self.created:
            self.created[key] = {
                "id": f"cbtxn_{len(self.created) + 1}",
                "object": "customer_balance_transaction",
                "customer": request.match_info["customer"],
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "description": form.get("description"),
            }
            if self.answer_after:
                await asyncio.sleep(self.answer_after.pop(0))
        return web.json_response(self.created[key])

    def _record(self, request: web.Request, form: dict[str, str]) -> str | None:
        key = request.headers.get("Idempotency-Key")
        self.received.append(Received(request.method, request.path, key, form))
        return key


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"type": "invalid_request_error", "code": code, "message": message}}
    return web.json_response(body, status=status)


@asynccontextmanager
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    fake = FakeStripe()
    app = web.Application()
    app.router.add_get("/v1/subscriptions/{id}", fake._subscription)
    app.router.add_post("/v1/customers/{customer}/balance_transactions", fake._balance_transaction)
    # An answer still held (`answer_after`) when the test ends has nobody waiting for it:
    # dropped after a second rather than waited for.
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()
