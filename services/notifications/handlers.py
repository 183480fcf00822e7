"""One thin function per message or request: remember contacts and sessions, queue the
emails an event calls for, or answer for a person's calendar feed."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from uuid import UUID

from contracts import (
    BookingCancelled,
    BookingReminderDue,
    BookingsCancelled,
    BookingsScheduled,
    SubscriptionActivated,
    SubscriptionRenewed,
)
from contracts.rpc import (
    CalendarFeed,
    CalendarFeedToken,
    GetCalendarFeed,
    OpenCalendarFeed,
    ResetCalendarFeed,
    RpcError,
)
from services.kit import inbox
from services.kit.database import Tx
from services.notifications import calendar, domain, store
from services.notifications.domain import Contacts, Email, LifecycleEvent, Session
from services.notifications.templates import Templates

WAITING = "contacts not known yet: waiting for subscription.activated"
NO_REMINDER = "booking already cancelled: no reminder"


async def save_contacts(tx: Tx, msg: SubscriptionActivated, templates: Templates) -> str:
    """Remember who to write to; then queue what was waiting for these contacts."""
    await store.lock_subscription(tx, msg.subscription_id)
    contacts = await store.save_contacts(tx, msg)
    waiting = await store.take_waiting(tx, msg.subscription_id)
    skipped = await _keep_calendar(tx, waiting)
    queued = 0
    for event in waiting:
        if event.event_id not in skipped:
            queued += await store.queue_emails(tx, templates.compose(event, contacts))
    return "contacts saved" + (f"; queued {queued} waiting emails" if waiting else "")


async def save_all_contacts(
    tx: Tx, msgs: Sequence[SubscriptionActivated], templates: Templates
) -> list[str]:
    """Remember who to write to; then queue what was waiting for these contacts."""
    # `save_contacts` for a batch: the first activation of a subscription saves its
    # contacts and takes what waited for them; a repeated one finds nothing waiting.
    ids = [m.subscription_id for m in msgs]
    await store.lock_subscriptions(tx, ids)
    await store.save_contacts_many(tx, msgs)
    known = await store.contacts_of_many(tx, ids)
    waiting = await store.take_waiting_many(tx, ids)
    skipped = await _keep_calendar(tx, [e for events in waiting.values() for e in events])
    composed = [
        [templates.compose(e, known[i]) for e in waiting.pop(i, []) if e.event_id not in skipped]
        for i in ids
    ]
    queued = await store.insert_emails(tx, [e for each in composed for es in each for e in es])
    return [_contacts_saved(each, queued) for each in composed]


async def save_all_contacts_and_send_schedules(
    tx: Tx, msgs: Sequence[SubscriptionActivated], templates: Templates
) -> list[str]:
    """`save_all_contacts`, then email each mentee the new cycle's schedule with their
    calendar feed (a repeated activation composes the same emails: none is sent twice)."""
    outcomes = await save_all_contacts(tx, msgs, templates)
    known = await store.contacts_of_many(tx, (m.subscription_id for m in msgs))
    tokens = await store.feed_tokens(tx, (m.mentee.id for m in msgs), "mentee", _new_token)
    composed = [
        templates.compose(m, known[m.subscription_id], feed_token=tokens[m.mentee.id]) for m in msgs
    ]
    queued = await store.insert_emails(tx, [e for each in composed for e in each])
    return [
        f"{outcome}; schedule {'queued' if {e.message_id for e in each} & queued else 'known'}"
        for outcome, each in zip(outcomes, composed, strict=True)
    ]


def _contacts_saved(waited: list[list[Email]], queued: set[str]) -> str:
    if not waited:
        return "contacts saved"
    count = sum(len({e.message_id for e in emails} & queued) for emails in waited)
    return f"contacts saved; queued {count} waiting emails"


async def extend_cycle(tx: Tx, msg: SubscriptionRenewed, templates: Templates) -> str:
    """Keep the cycle's end, for the sessions a reactivation email lists."""
    extended = await store.extend_cycle(tx, msg.subscription_id, msg.cycle_ends_at)
    return "cycle extended" if extended else "nothing to change"


async def queue_emails(tx: Tx, msg: LifecycleEvent, templates: Templates) -> str:
    """Email mentee and mentor (for a reactivation: the mentee, mentor in Cc)."""
    await store.lock_subscription(tx, msg.subscription_id)
    contacts = await store.contacts_of(tx, msg.subscription_id)
    if contacts is None:
        # Not dropped and not retried blindly: queued once the contacts arrive.
        await store.wait_for_contacts(tx, msg)
        return WAITING
    if await _keep_calendar(tx, [msg]):
        return NO_REMINDER
    queued = await store.queue_emails(tx, templates.compose(msg, contacts))
    return f"queued {queued} emails"


async def queue_all_emails(
    tx: Tx, msgs: Sequence[LifecycleEvent], templates: Templates
) -> list[str]:
    """Email mentee and mentor (for a reactivation: the mentee, mentor in Cc; for a
    mentee's cancellation: the mentor, mentee in Cc)."""
    # `queue_emails` for a batch, as one by one would: the subscriptions locked and their
    # contacts read at once, every email queued and every waiting event kept set-based.
    await store.lock_subscriptions(tx, (m.subscription_id for m in msgs))
    known = await store.contacts_of_many(tx, (m.subscription_id for m in msgs))
    await store.wait_for_contacts_many(tx, [m for m in msgs if m.subscription_id not in known])
    skipped = await _keep_calendar(tx, [m for m in msgs if m.subscription_id in known])
    composed: list[list[Email] | None] = [
        templates.compose(m, known[m.subscription_id])
        if m.subscription_id in known and m.event_id not in skipped
        else None
        for m in msgs
    ]
    queued = await store.insert_emails(tx, [e for each in composed if each for e in each])
    return [
        (NO_REMINDER if m.event_id in skipped else WAITING)
        if each is None
        else f"queued {len({e.message_id for e in each} & queued)} emails"
        for m, each in zip(msgs, composed, strict=True)
    ]


async def withdraw_invitations(
    tx: Tx, msgs: Sequence[BookingsCancelled], templates: Templates
) -> list[str]:
    """Booking cancelled sessions (reprobation, subscription end): those a reminder had
    invited to a calendar are withdrawn, by an email to the mentee (mentor in Cc) whose
    calendar part cancels them. Sessions never invited need no email."""
    await store.lock_subscriptions(tx, (m.subscription_id for m in msgs))
    cancelled = [(m.subscription_id, b) for m in msgs for b in m.booking_ids]
    await store.cancel_sessions(tx, cancelled)
    withdrawn = await store.withdraw_invitations(tx, cancelled)
    invited = [domain.withdrawn_sessions(m, withdrawn) for m in msgs]
    known = await store.contacts_of_many(
        tx, (m.subscription_id for m, s in zip(msgs, invited, strict=True) if s)
    )
    composed = [
        _withdrawal(templates, m, known.get(m.subscription_id), sessions)
        for m, sessions in zip(msgs, invited, strict=True)
    ]
    queued = await store.insert_emails(tx, [e for each in composed for e in each])
    return [
        f"withdrew {len(s)} invitations; queued {len({e.message_id for e in each} & queued)} emails"
        if s
        else "no invitation to withdraw"
        for s, each in zip(invited, composed, strict=True)
    ]


def _withdrawal(
    templates: Templates,
    msg: BookingsCancelled,
    contacts: Contacts | None,
    sessions: list[Session],
) -> list[Email]:
    # Invited sessions imply known contacts (a reminder waits for them); kept safe anyway.
    if not sessions or contacts is None:
        return []
    return templates.compose(msg, contacts, sessions)


async def _keep_calendar(tx: Tx, events: Sequence[LifecycleEvent]) -> set[UUID]:
    """Record what booking emails put in calendars: a reminder invites its session, a
    mentee's cancellation withdraws it. Returns the reminders not to send: their booking
    is already known to be cancelled (the cancellation overtook the reminder)."""
    reminders = [e for e in events if isinstance(e, BookingReminderDue)]
    cancelled = await store.cancelled_invitations(tx, (r.booking_id for r in reminders))
    skipped = {r.event_id for r in reminders if r.booking_id in cancelled}
    await store.record_invited(
        tx,
        [
            (r.subscription_id, Session(r.booking_id, r.starts_at, r.ends_at))
            for r in reminders
            if r.event_id not in skipped
        ],
    )
    by_mentee = [e for e in events if isinstance(e, BookingCancelled)]
    await store.withdraw_invitations(tx, [(e.subscription_id, e.booking_id) for e in by_mentee])
    await store.cancel_sessions(tx, [(e.subscription_id, e.booking_id) for e in by_mentee])
    return skipped


# --- calendar feeds ----------------------------------------------------------------


async def book_all_sessions(
    tx: Tx, msgs: Sequence[BookingsScheduled], templates: Templates
) -> list[str]:
    """Keep the booked sessions for their people's calendar feeds; a make-up booked is
    also emailed to the mentee (mentor in Cc) with its invitation, once per booking."""
    makeups = domain.makeups(msgs)
    # Before writing the sessions' rows, the order a cancellation takes them in: else
    # each could wait on the other's.
    await store.lock_subscriptions(tx, (m.subscription_id for m in makeups))
    await store.book_sessions(
        tx, [(m.subscription_id, s) for m in msgs for s in domain.booked_of(m)]
    )
    announced = await _announce_makeups(tx, makeups, templates)
    return [
        f"kept {len(m.bookings)} sessions for the feeds"
        + (f"; {announced[m.event_id]}" if m.event_id in announced else "")
        for m in msgs
    ]


async def _announce_makeups(
    tx: Tx, makeups: Sequence[BookingsScheduled], templates: Templates
) -> dict[UUID, str]:
    """Email each make-up with its invitation, its session recorded as invited (so that
    its cancellation withdraws it), unless `domain.makeup_skipped` says why not."""
    known = await store.contacts_of_many(tx, (m.subscription_id for m in makeups))
    cancelled = await store.cancelled_invitations(
        tx, (s.booking_id for m in makeups for s in domain.booked_of(m))
    )
    skipped = {m.event_id: domain.makeup_skipped(m, known, cancelled) for m in makeups}
    sent = [m for m in makeups if skipped[m.event_id] is None]
    invited = [(m.subscription_id, s) for m in sent for s in domain.booked_of(m)]
    await store.record_invited(tx, invited)
    missed = await store.booked_sessions(tx, (m.makeup_for for m in sent if m.makeup_for))
    composed = {
        m.event_id: templates.compose(m, known[m.subscription_id], domain.missed_of(m, missed))
        for m in sent
    }
    queued = await store.insert_emails(tx, [e for each in composed.values() for e in each])
    emailed = {i: {e.message_id for e in each} & queued for i, each in composed.items()}
    return {
        i: why or ("make-up emailed" if emailed[i] else "make-up already emailed")
        for i, why in skipped.items()
    }


def _new_token() -> str:
    """Unguessable: the feed's URL is all a calendar app needs to read it."""
    return secrets.token_urlsafe(24)


async def open_calendar_feed(
    tx: Tx, request: OpenCalendarFeed, templates: Templates
) -> CalendarFeedToken:
    tokens = await store.feed_tokens(tx, [request.person_id], request.role, _new_token)
    return CalendarFeedToken(token=tokens[request.person_id])


async def reset_calendar_feed(
    tx: Tx, request: ResetCalendarFeed, templates: Templates
) -> CalendarFeedToken:
    """A new token; the same request again (a retry) answers the token it made."""
    if await inbox.claim(tx, "notifications:rpc.reset_calendar_feed", request.request_id):
        token = await store.replace_feed_token(tx, request.person_id, request.role, _new_token())
    else:
        tokens = await store.feed_tokens(tx, [request.person_id], request.role, _new_token)
        token = tokens[request.person_id]
    return CalendarFeedToken(token=token)


async def get_calendar_feed(tx: Tx, request: GetCalendarFeed, templates: Templates) -> CalendarFeed:
    holder = await store.feed_holder(tx, request.token)
    if holder is None:
        return CalendarFeed(error=RpcError(code="not_found", detail="no such feed"))
    upcoming = await store.upcoming_sessions(tx, holder, request.now)
    return CalendarFeed(ics=calendar.feed(upcoming, stamp=request.now))
