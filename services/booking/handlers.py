"""One thin function per message booking consumes: load, decide (the domain), store,
outbox, outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar
from uuid import UUID

from contracts import (
    AttendanceMarkCleared,
    AttendanceMarked,
    BookingCancelled,
    Event,
    MenteeReactivated,
    MenteeReprobated,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
    SweepTick,
)
from contracts.rpc import (
    BookingCancellation,
    BookingFound,
    CancelBooking,
    FindBooking,
    ListMakeups,
    ListMenteeBookings,
    MakeupScheduled,
    MakeupsReply,
    MenteeBookingsReply,
    RpcError,
    ScheduleMakeup,
)
from contracts.sessions import one_per_session
from services.booking import domain, makeups, store
from services.booking.domain import Change, Policy, Subscription
from services.kit import inbox, metrics, outbox
from services.kit.database import Tx
from services.kit.errors import SubscriptionNotKnownYet
from services.kit.refusals import Refusal

SWEEP_BATCH = 5000

# The lifecycle facts about one subscription that booking decides on.
L = TypeVar("L", SubscriptionRenewed, SubscriptionEnded, MenteeReprobated, MenteeReactivated)


async def activate_subscriptions(
    tx: Tx, msgs: Sequence[SubscriptionActivated], policy: Policy
) -> list[str]:
    """Store each subscription and book every slot occurrence of its cycle."""
    changes = [Subscription.activate(m) for m in msgs]
    stored = await store.add_subscriptions(tx, [c.subscription for c in changes])
    new: dict[UUID, Change] = {}
    for c in changes:  # activated twice in one batch: the first activation is stored
        if c.subscription.subscription_id in stored:
            new.setdefault(c.subscription.subscription_id, c)
    booked = await store.add_bookings_of(tx, [(sid, c.to_book) for sid, c in new.items()])
    await outbox.add(tx, [e for sid, c in new.items() for e in c.events(booked[sid], [])])
    return [
        c.outcome(len(booked[c.subscription.subscription_id]))
        if new.get(c.subscription.subscription_id) is c
        else "already active, nothing to do"
        for c in changes
    ]


async def renew_subscriptions(
    tx: Tx, msgs: Sequence[SubscriptionRenewed], policy: Policy
) -> list[str]:
    """Open the new cycle; book it unless the mentee is reprobated."""
    return await _decide_each(tx, msgs, lambda s, m: s.renew(m))


async def end_subscriptions(tx: Tx, msgs: Sequence[SubscriptionEnded], policy: Policy) -> list[str]:
    """Cancel every future booking; later renewals are ignored."""
    return await _decide_each(tx, msgs, lambda s, m: s.end(m))


async def cancel_for_reprobations(
    tx: Tx, msgs: Sequence[MenteeReprobated], policy: Policy
) -> list[str]:
    """Cancel the rest of the cycle. The paid subscription itself is never touched."""
    return await _decide_each(tx, msgs, lambda s, m: s.reprobate(m))


async def regenerate_bookings(
    tx: Tx, msgs: Sequence[MenteeReactivated], policy: Policy
) -> list[str]:
    """Book every slot occurrence after the reactivation up to the cycle's end."""
    return await _decide_each(tx, msgs, lambda s, m: s.reactivate(m))


async def _decide_each(
    tx: Tx, msgs: Sequence[L], decide: Callable[[Subscription, L], Change]
) -> list[str]:
    """Apply lifecycle facts as one by one would, in rounds in which each subscription
    has one fact (its first, then its second…): each round loads and locks its
    subscriptions once, and books, cancels and writes its events set-based."""
    outcomes: dict[int, str] = {}
    for facts in _rounds(msgs):
        loaded = await store.load_subscriptions(tx, (m.subscription_id for _, m in facts))
        changes = {i: decide(_known(loaded, m.subscription_id), m) for i, m in facts}
        await store.save_subscriptions(tx, [c.subscription for c in changes.values()])
        planned = [(c.subscription.subscription_id, c.to_book) for c in changes.values()]
        booked = await store.add_bookings_of(tx, planned)
        cancels = [(c.subscription.subscription_id, c.cancel) for c in changes.values()]
        cancelled = await store.cancel_bookings_of(tx, cancels)
        await _reopen_makeups(tx, changes.values(), cancelled)
        events: list[Event] = []
        for i, c in changes.items():
            sid = c.subscription.subscription_id
            events += c.events(booked[sid], cancelled[sid])
            outcomes[i] = c.outcome(len(booked[sid]), len(cancelled[sid]))
        await outbox.add(tx, events)
    return [outcomes[i] for i in range(len(msgs))]


def _rounds(msgs: Sequence[L]) -> list[list[tuple[int, L]]]:
    """The facts (with their position) split so that a subscription appears once per round."""
    rounds: list[list[tuple[int, L]]] = []
    seen: dict[UUID, int] = {}
    for i, msg in enumerate(msgs):
        k = seen[msg.subscription_id] = seen.get(msg.subscription_id, -1) + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append((i, msg))
    return rounds


def _known(loaded: dict[UUID, Subscription], subscription_id: UUID) -> Subscription:
    if subscription_id not in loaded:
        # The activation travels on another queue: retried until it has been handled
        # (its batch is split, so that this fact alone waits).
        raise SubscriptionNotKnownYet(str(subscription_id))
    return loaded[subscription_id]


async def record_attendance(
    tx: Tx, msgs: Sequence[AttendanceMarked | AttendanceMarkCleared], policy: Policy
) -> list[str]:
    """Record attendance's marks, and the mentor's marks cleared, on the bookings
    (attendance is the source of truth): each booking locked once, the marks applied
    in order, saved in one statement."""
    bookings = await store.load_bookings(tx, (m.booking_id for m in msgs))
    loaded = dict(bookings)
    changed: dict[UUID, domain.Booking] = {}
    outcomes = []
    for msg in msgs:
        booking = bookings.get(msg.booking_id)
        if booking is None:
            outcomes.append("unknown booking, mark ignored")
            continue
        change = booking.record(msg)
        if change.applied:
            bookings[msg.booking_id] = changed[msg.booking_id] = change.booking
        outcomes.append(change.outcome)
    await store.save_marks(tx, list(changed.values()))
    return outcomes + await _follow_makeups(tx, loaded, changed)


async def _follow_makeups(
    tx: Tx, before: dict[UUID, domain.Booking], after: dict[UUID, domain.Booking]
) -> list[str]:
    """What the marks do to make-ups: a mentor's no-show marked or corrected owes or
    withdraws one (rare: a join pays one check for it); a make-up's session marked uses it."""
    noshow = "mentor_no_show"
    missed = [b for i, b in after.items() if noshow in (b.mark_status, before[i].mark_status)]
    made_up = [b for b in after.values() if b.makeup_for is not None]
    outcomes = await _settle_makeups(tx, missed) if missed else []
    return outcomes + (await _use_makeups(tx, made_up) if made_up else [])


async def _settle_makeups(tx: Tx, marked: Sequence[domain.Booking]) -> list[str]:
    """The make-up credits of bookings whose mark was or is the mentor's no-show: owed,
    or withdrawn by a correction (rare: the join path pays one check for it)."""
    ids = [b.booking_id for b in marked]
    sessions = await store.missed_sessions(tx, ids)
    credits = await store.makeups_of(tx, ids)
    saved, events = [], []
    for booking in marked:
        session = sessions.get(booking.booking_id)
        if session is None:
            continue
        credit, event = makeups.after_mark(session, booking, credits.get(booking.booking_id))
        saved += [credit] if credit else []
        events += [event] if event else []
    await store.save_makeups(tx, saved)
    await outbox.add(tx, events)
    return [f"make-up {type(e).__name__}" for e in events]


async def _use_makeups(tx: Tx, marked: Sequence[domain.Booking]) -> list[str]:
    """The make-ups whose sessions were marked are used (booked again if cleared)."""
    by_id = {b.booking_id: b for b in marked}
    return await _follow_booked_makeups(
        tx,
        list(by_id),
        lambda missed, makeup, credit: makeups.after_makeup_mark(
            missed, makeup, by_id[makeup.booking_id], credit
        ),
    )


async def _reopen_makeups(
    tx: Tx, changes: Iterable[Change], cancelled: dict[UUID, list[UUID]]
) -> None:
    """Make-ups cancelled with the rest (a reprobation) are owed again."""
    at = {b: c.occurred_at for c in changes for b in cancelled[c.subscription.subscription_id]}
    if at:
        await _follow_booked_makeups(
            tx,
            list(at),
            lambda missed, makeup, credit: makeups.after_cancellation(
                missed, makeup, credit, at[makeup.booking_id], late=False
            ),
        )


async def _follow_booked_makeups(
    tx: Tx,
    booking_ids: Sequence[UUID],
    decide: Callable[
        [domain.BookedSession, domain.BookedSession, makeups.Makeup],
        tuple[makeups.Makeup | None, Event | None],
    ],
) -> list[str]:
    """The credits booked as these bookings, after what `decide` says of each (given the
    missed session and the make-up's), and the events that say so."""
    credits = await store.makeups_booked_as(tx, booking_ids)
    if not credits:
        return []
    missed_ids = [c.missed_booking_id for c in credits.values()]
    sessions = await store.missed_sessions(tx, [*credits, *missed_ids])
    saved, events = [], []
    for booking_id, credit in credits.items():
        after, event = decide(sessions[credit.missed_booking_id], sessions[booking_id], credit)
        saved += [after] if after else []
        events += [event] if event else []
    await store.save_makeups(tx, saved)
    await outbox.add(tx, events)
    return [f"make-up {c.status}" for c in saved]


async def sweep(tx: Tx, msg: SweepTick, policy: Policy) -> str:
    """Every booking that ended `sweep_grace` before the tick with no attendance becomes
    unattended, every session starting within a reminder offset is reminded once, and
    every make-up owed past its latest start expires (tick_at is now)."""
    with metrics.SWEEP_SECONDS.time():
        swept = await _sweep(tx, msg, policy)
        reminded = await _remind(tx, msg, policy)
        expired = await _expire_makeups(tx, msg, policy)
    metrics.BOOKINGS_SWEPT.inc(swept)
    metrics.REMINDERS_DUE.inc(reminded)
    done = [f"swept {swept} bookings"] if swept else []
    done += [f"{reminded} reminders due"] if reminded else []
    done += [f"{expired} make-ups expired"] if expired else []
    return "; ".join(done) or "nothing due"


async def _sweep(tx: Tx, msg: SweepTick, policy: Policy) -> int:
    due_before = domain.sweep_due_before(msg.tick_at, policy.sweep_grace)
    swept = 0
    while True:
        batch = await store.sweep_batch(
            tx, due_before=due_before, tick_at=msg.tick_at, batch=SWEEP_BATCH
        )
        await outbox.add(tx, domain.unattended(batch, msg.tick_at))
        swept += len(batch)
        if len(batch) < SWEEP_BATCH:
            return swept


async def _expire_makeups(tx: Tx, msg: SweepTick, policy: Policy) -> int:
    """The make-ups still owed past their latest start expire (refunds due, if on)."""
    refund = policy.makeup_refund
    found = await store.expire_makeups(
        tx, tick_at=msg.tick_at, within=policy.makeup_within, refund=refund != "none"
    )
    await outbox.add(tx, makeups.expired(found, msg.tick_at, policy.makeup_within, refund))
    return len(found)


async def _remind(tx: Tx, msg: SweepTick, policy: Policy) -> int:
    reminded = 0
    while True:
        looked_at, due = await store.record_reminders_due(
            tx, tick_at=msg.tick_at, hours=policy.reminder_hours, batch=SWEEP_BATCH
        )
        events = domain.reminders(due, msg.tick_at)
        await outbox.add(tx, events)
        reminded += len(events)
        if looked_at < SWEEP_BATCH:
            return reminded


async def list_mentee_bookings(
    tx: Tx, request: ListMenteeBookings, policy: Policy
) -> MenteeBookingsReply:
    """The mentee's bookings, each session once (a reactivation's booking stands for the
    cancelled ones of the same session)."""
    found = await store.mentee_bookings(tx, request.mentee_id)
    sessions = one_per_session(
        found, lambda b: (b.subscription_id, b.starts_at), lambda b: b.status != "cancelled"
    )
    return MenteeBookingsReply(
        bookings=[
            one.booking.model_copy(update={"replaces": [r.booking_id for r in one.replaces]})
            for one in sessions
        ]
    )


async def cancel_booking(tx: Tx, request: CancelBooking, policy: Policy) -> BookingCancellation:
    """The mentee cancels ahead: booking.cancelled, in time or late (attendance counts it)."""
    booking = await store.lock_owned_booking(tx, request.booking_id)
    if booking is None:
        return BookingCancellation(error=RpcError(code="not_found", detail="no such booking"))
    cancelled = domain.cancel_by_mentee(booking, request, policy)
    if isinstance(cancelled, Refusal):
        return BookingCancellation(error=RpcError(code=cancelled.code, detail=cancelled.detail))
    # A request delivered twice finds the booking cancelled (refused above); the claim
    # keeps the event written once even so.
    if await inbox.claim(tx, "booking:rpc.cancel_booking", request.request_id):
        await store.cancel_by_mentee(tx, cancelled)
        await outbox.add(tx, [cancelled])
        await _cancel_makeup(tx, cancelled)
    return BookingCancellation(
        booking_id=booking.booking_id, starts_at=booking.starts_at, status=cancelled.status
    )


async def _cancel_makeup(tx: Tx, cancelled: BookingCancelled) -> None:
    """A make-up the mentee cancels in time is owed again; cancelled late, it is used."""
    late = cancelled.status == "cancelled_late"
    await _follow_booked_makeups(
        tx,
        [cancelled.booking_id],
        lambda missed, makeup, credit: makeups.after_cancellation(
            missed, makeup, credit, cancelled.cancelled_at, late=late
        ),
    )


async def list_makeups(tx: Tx, request: ListMakeups, policy: Policy) -> MakeupsReply:
    return MakeupsReply(makeups=await store.makeup_views(tx, request, policy.makeup_within))


async def schedule_makeup(tx: Tx, request: ScheduleMakeup, policy: Policy) -> MakeupScheduled:
    """A mentor books the make-up owed for a session they missed: a booking of its own
    (kind makeup), announced as bookings.scheduled; the same request again books nothing."""
    found = await _makeup_request(tx, request)
    if isinstance(found, Refusal):
        return MakeupScheduled(error=RpcError(code=found.code, detail=found.detail))
    subscription, missed, credit = found
    ends_at = request.starts_at + (missed.ends_at - missed.starts_at)
    clashes = await store.mentor_clashes(tx, request.mentor_id, request.starts_at, ends_at)
    within = policy.makeup_within
    decided = makeups.schedule(request, subscription, missed, credit, within, clashes)
    if isinstance(decided, Refusal):
        return MakeupScheduled(error=RpcError(code=decided.code, detail=decided.detail))
    if decided.event is not None:
        await store.add_makeup_booking(
            tx, subscription.subscription_id, decided.booking, missed.booking_id
        )
        await store.save_makeups(tx, [decided.credit])
        await outbox.add(tx, [decided.event])
    of = ListMakeups(subscription_id=subscription.subscription_id)
    views = await store.makeup_views(tx, of, within)
    return MakeupScheduled(
        makeup=next(v for v in views if v.missed_booking_id == missed.booking_id)
    )


async def _makeup_request(
    tx: Tx, request: ScheduleMakeup
) -> tuple[Subscription, domain.BookedSession, makeups.Makeup | None] | Refusal:
    """The subscription (locked), the missed session and its credit (locked) a mentor's
    make-up request names."""
    subscriptions = await store.load_subscriptions(tx, [request.subscription_id])
    sessions = await store.missed_sessions(tx, [request.missed_booking_id])
    missed = sessions.get(request.missed_booking_id)
    subscription = subscriptions.get(request.subscription_id)
    if subscription is None or missed is None or missed.subscription_id != request.subscription_id:
        return Refusal("not_found", "no such session of this subscriber")
    credits = await store.makeups_of(tx, [missed.booking_id])
    return subscription, missed, credits.get(missed.booking_id)


async def find_booking(tx: Tx, request: FindBooking, policy: Policy) -> BookingFound:
    found = await store.find_booking(tx, request.booking_id)
    if found is None:
        return BookingFound(error=RpcError(code="not_found", detail="no such booking"))
    return BookingFound(
        booking_id=found.booking_id,
        subscription_id=found.subscription_id,
        mentee_id=found.mentee_id,
        mentor_id=found.mentor_id,
        status=found.status,
        starts_at=found.starts_at,
        ends_at=found.ends_at,
        timezone=found.timezone,
    )
