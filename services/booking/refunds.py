"""Expired make-ups credited to the mentee's Stripe customer balance
(MAKEUP_EXPIRED_REFUND=stripe_credit): one session's share of the subscription's price.

Stripe is called outside the sweep's transaction, by a loop of its own, as notifications
sends emails. The sweep records a refund due with the expiry. This loop takes one due
refund at a time, its row locked so that replicas never take the same one, asks Stripe,
and records the result with `makeup.refunded` in the same commit. Each call carries the
credit's id (its missed booking's) as the idempotency key: after a crash between Stripe's
answer and the commit, the loop asks again with the same key, and Stripe answers with
the first result instead of crediting twice.

Booking asks Stripe for two things only: to read the subscription (its price, its
customer) and to add a customer balance transaction. The subscription itself is never
changed (tests/unit/test_no_stripe_writes.py).
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from services.booking import makeups, store
from services.booking.makeups import Credited
from services.booking.store import DueRefund
from services.kit import outbox
from services.kit.backoff import backoff
from services.kit.database import Database, Tx
from services.kit.logs import get_logger
from services.kit.settings import Settings

log = get_logger(__name__)

POLL_SECONDS = 5.0  # the longest a refund waits once due
MAX_ATTEMPTS = 8  # over some four hours with the backoff below, then failed for good


class NothingToCredit(Exception):
    """A refund that no retry can make (no Stripe subscription, a price of nothing)."""


class StripeRefunds:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.client = stripe.StripeClient(
            settings.stripe_api_key or "",
            base_addresses={"api": settings.stripe_api_base},
            max_network_retries=2,
        )

    async def run(self) -> None:
        """Refund what is due, one after the other; wait when nothing is."""
        while True:
            try:
                refunded = await self.refund_next()
            except Exception as error:  # e.g. the database restarted: try again
                log.warning("refunding failed, retrying", error=repr(error))
                refunded = False
            if not refunded:
                await asyncio.sleep(POLL_SECONDS)

    async def refund_next(self) -> bool:
        """Refund the refund due longest, if there is one; whether there was."""
        async with self.db.transaction() as tx:
            due = await store.next_refund_due(tx)
            if due is None:
                return False
            try:
                credited = await self._credit(due)
            except (stripe.StripeError, NothingToCredit) as error:
                await _failed(tx, due, error)
                return True
            await store.refund_made(tx, due.missed.booking_id, credited)
            event = makeups.refunded(due.missed, credited, datetime.now(UTC))
            await outbox.add(tx, [event])
        log.info(
            "make-up refunded to the customer balance",
            subscription_id=str(due.missed.subscription_id),
            missed_booking_id=str(due.missed.booking_id),
            amount=credited.amount,
            currency=credited.currency,
        )
        return True

    async def _credit(self, due: DueRefund) -> Credited:
        stripe_id = due.subscription.stripe_subscription_id
        if stripe_id is None:
            raise NothingToCredit("the subscription has no Stripe subscription")
        subscription = await self.client.v1.subscriptions.retrieve_async(stripe_id)
        amount = makeups.session_share(_price_per_cycle(subscription), due.subscription)
        if amount <= 0:
            raise NothingToCredit("the subscription's price gives nothing to credit")
        customer = subscription["customer"]
        missed = due.missed
        transaction = await self.client.v1.customers.balance_transactions.create_async(
            customer if isinstance(customer, str) else customer["id"],
            {
                # Negative: a credit, taken off the customer's next invoices.
                "amount": -amount,
                "currency": subscription["currency"],
                "description": f"Make-up not given for the session of {missed.starts_at:%Y-%m-%d}",
                "metadata": {
                    "missed_booking_id": str(missed.booking_id),
                    "subscription_id": str(missed.subscription_id),
                },
            },
            {"idempotency_key": str(missed.booking_id)},
        )
        return Credited(amount, transaction["currency"], transaction["id"])


def _price_per_cycle(subscription: Any) -> int:
    """What the subscription costs per cycle: each item's unit price times its quantity."""
    return sum(
        int(item["price"]["unit_amount"] or 0) * int(getattr(item, "quantity", None) or 1)
        for item in subscription["items"]["data"]
    )


async def _failed(tx: Tx, due: DueRefund, error: Exception) -> None:
    """Tried again later with backoff; never when no retry can help (a request Stripe
    refuses as invalid, nothing to credit) or after MAX_ATTEMPTS."""
    final = (
        isinstance(error, NothingToCredit | stripe.InvalidRequestError)
        or due.attempts + 1 >= MAX_ATTEMPTS
    )
    delay = backoff(due.attempts, base=60, cap=3600, jitter=random.random())
    retry_in = None if final else timedelta(seconds=delay)
    await store.refund_failed(tx, due.missed.booking_id, repr(error), retry_in)
    (log.error if final else log.warning)(
        "make-up refund failed" + ("" if final else ", retrying"),
        subscription_id=str(due.missed.subscription_id),
        missed_booking_id=str(due.missed.booking_id),
        attempts=due.attempts + 1,
        error=repr(error),
    )
