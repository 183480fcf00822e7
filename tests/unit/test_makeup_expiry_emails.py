"""What the emails about an expired make-up and its refund say and to whom, rendered from
the real templates."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from contracts import MakeupExpired, MakeupRefunded
from services.notifications import domain
from services.notifications.templates import Templates
from tests.unit.test_appeal_emails import words
from tests.unit.test_notifications_emails import (
    CONTACTS,
    MENTEE,
    MENTOR,
    MISSED,
    SUBSCRIPTION,
    well_formed_text,
)

MISSED_BOOKING = uuid.uuid4()
BOOK_BY = MISSED + timedelta(days=14)
MISSED_AT = "Monday 6 April 2026 at 18:00 (Europe/Lisbon)"
BOOK_BY_AT = "Monday 20 April 2026 at 18:00 (Europe/Lisbon)"
MONEY = ("credited", "account balance", "invoice", "€", "price")
# What both events say of the make-up: whose, and for which missed session.
OF_THE_MAKEUP = {
    "subscription_id": SUBSCRIPTION,
    "mentee_id": MENTEE,
    "mentor_id": MENTOR,
    "missed_booking_id": MISSED_BOOKING,
    "missed_starts_at": MISSED,
}


def expired(refund: str) -> MakeupExpired:
    return MakeupExpired(
        occurred_at=BOOK_BY + timedelta(minutes=1),
        **OF_THE_MAKEUP,
        book_by=BOOK_BY,
        expired_at=BOOK_BY + timedelta(minutes=1),
        refund=refund,  # type: ignore[arg-type]
    )


def refunded(amount: int, currency: str, txn: str = "cbtxn_1Nq2abc") -> MakeupRefunded:
    return MakeupRefunded(
        occurred_at=BOOK_BY + timedelta(minutes=2),
        **OF_THE_MAKEUP,
        amount=amount,
        currency=currency,
        stripe_balance_transaction_id=txn,
        refunded_at=BOOK_BY + timedelta(minutes=2),
    )


@pytest.mark.parametrize("refund", ["none", "stripe_credit"])
def test_an_expired_makeup_tells_the_mentee_with_the_mentor_in_copy(refund: str) -> None:
    [email] = Templates().compose(expired(refund), CONTACTS)
    assert (email.recipient, email.cc) == ("maria@example.com", "otto@example.com")
    assert email.subject == (
        "Your make-up session for the session missed on Monday 6 April 2026 has expired"
    )
    for text in (words(email.text_body), well_formed_text(email.html_body)):
        assert (
            "Hello Maria <Mentee>, Otto Mentor did not book the make-up session owed to you "
            f"for the session they missed on {MISSED_AT}. It had to take place by {BOOK_BY_AT}, "
            "which has passed: the make-up has expired and can no longer be booked."
        ) in text, text
    assert "Maria &lt;Mentee&gt;" in email.html_body


def test_an_expired_makeup_with_a_refund_says_a_share_is_credited_and_confirmed_apart() -> None:
    [email] = Templates().compose(expired("stripe_credit"), CONTACTS)
    said = (
        "Instead, one session's share of your subscription's price will be credited to your "
        "account balance, which is taken off your next invoice. A separate email will "
        "confirm the amount."
    )
    assert said in words(email.text_body) and said in well_formed_text(email.html_body)


def test_an_expired_makeup_without_a_refund_says_nothing_about_money() -> None:
    [email] = Templates().compose(expired("none"), CONTACTS)
    for text in (email.subject, words(email.text_body), well_formed_text(email.html_body)):
        assert not [w for w in MONEY if w in text], text
    assert words(email.text_body).endswith("can no longer be booked. Mentorship attendance")


@pytest.mark.parametrize(
    ("amount", "currency", "read"),
    [(1250, "eur", "€12.50"), (1500, "jpy", "¥1,500")],
)
def test_a_refund_confirms_the_amount_credited_for_the_missed_session(
    amount: int, currency: str, read: str
) -> None:
    [email] = Templates().compose(refunded(amount, currency), CONTACTS)
    assert (email.recipient, email.cc) == ("maria@example.com", "otto@example.com")
    assert email.subject == (
        f"{read} credited to your account for the session missed on Monday 6 April 2026"
    )
    for text in (words(email.text_body), well_formed_text(email.html_body)):
        assert (
            "The make-up session owed to you for the session Otto Mentor missed on "
            f"{MISSED_AT} was not booked in time. Instead, {read}, one session's share of "
            "your subscription's price, has been credited to your account balance. "
            "It will be taken off your next invoice: there is nothing for you to do. "
            "Reference: cbtxn_1Nq2abc"
        ) in text, text


def test_the_copy_reads_the_times_of_its_addressee_the_mentee() -> None:
    sao_paulo = replace(CONTACTS, mentor_timezone="America/Sao_Paulo")
    for event in (expired("none"), refunded(1250, "eur")):
        [email] = Templates().compose(event, sao_paulo)
        assert MISSED_AT in email.text_body and "Sao Paulo" not in email.text_body


@pytest.mark.parametrize(
    ("amount", "currency", "read"),
    [
        (1250, "eur", "€12.50"),
        (5, "EUR", "€0.05"),
        (123456789, "usd", "$1,234,567.89"),
        (1000, "gbp", "£10.00"),
        (1500, "jpy", "¥1,500"),
        (1500, "krw", "1,500 KRW"),
        (9990, "chf", "99.90 CHF"),
        (12345, "kwd", "12.345 KWD"),
    ],
)
def test_an_amount_reads_in_its_currencys_units(amount: int, currency: str, read: str) -> None:
    assert domain.amount_read(amount, currency) == read


def test_one_email_per_expired_makeup_and_per_credit_made() -> None:
    """A replay under another event id sends nothing new; another credit is another email."""
    first, again = expired("none"), expired("none")
    assert domain.email_key(first) == domain.email_key(again)
    assert domain.email_key(refunded(1250, "eur")) == domain.email_key(refunded(1250, "eur"))
    assert domain.email_key(refunded(1250, "eur")) != domain.email_key(
        refunded(1250, "eur", txn="cbtxn_other")
    )
    assert domain.email_key(first) != domain.email_key(refunded(1250, "eur"))
