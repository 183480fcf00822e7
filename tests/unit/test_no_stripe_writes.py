"""Reprobation never touches the paid subscription: no code can cancel or pause it.

The end-to-end suite also routes every outbound HTTP call of the running
services through a recording proxy and finds none; this checks the source.
Booking's refund of an expired make-up is the one call that writes to Stripe, and
it writes to the customer's balance only.
"""

from __future__ import annotations

import re
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
WRITES = re.compile(
    r"stripe\.(Subscription|SubscriptionItem|Invoice)\b"
    r"|\.(cancel|modify|delete|pause)\(\s*['\"]?sub_"
    r"|\.subscriptions\.(?!retrieve)|\.subscription_items\.|\.invoices\."
)
REFUNDS = SERVICES / "booking" / "refunds.py"


def test_no_service_calls_stripe_to_change_a_subscription() -> None:
    offenders = [
        f"{path.relative_to(SERVICES.parent)}:{n}: {line.strip()}"
        for path in SERVICES.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if WRITES.search(line)
    ]
    assert offenders == []


def test_only_the_webhook_endpoint_and_the_make_up_refunds_use_the_stripe_library() -> None:
    users = sorted(
        str(path.relative_to(SERVICES.parent))
        for path in SERVICES.rglob("*.py")
        if re.search(r"^\s*import stripe|^\s*from stripe", path.read_text(), re.MULTILINE)
    )
    assert users == ["services/booking/refunds.py", "services/gateway/stripe_webhooks.py"]


def test_the_refunds_read_the_subscription_and_credit_the_customer_balance_only() -> None:
    calls = set(re.findall(r"\.v1\.([a-z_.]+)\(", REFUNDS.read_text()))
    assert calls == {"subscriptions.retrieve_async", "customers.balance_transactions.create_async"}
