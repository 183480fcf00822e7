"""One thin function per message or request attendance handles: load the record
(locked), one call into the domain, save, outbox, outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from contracts import (
    BookingCancelled,
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
    MakeupOwed,
    SessionJoined,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionPolicy,
    SubscriptionRenewed,
    SweepTick,
)
from contracts.rpc import (
    AppealAbsence,
    AppealReply,
    AttendanceExport,
    ClearMark,
    DecideAppeal,
    ExportAttendance,
    GetHistory,
    GetMenteeStanding,
    GetMentorPolicy,
    GetSubscriber,
    HistoryReply,
    ListSubscribers,
    MarkAttendance,
    MenteeStandingReply,
    MentorPolicyReply,
    NearSession,
    PolicyPreview,
    PreviewPolicy,
    ReactivateMentee,
    SetMentorPolicy,
    SubscriberChanged,
    SubscriberDetail,
    SubscriberReply,
    SubscribersReply,
    WaiveReprobation,
)
from services.attendance import makeups, preview, replies, store
from services.attendance.domain import (
    Change,
    MentorPolicyEdit,
    Policy,
    Record,
    as_fields,
    counting_statuses,
    only_their_mentor,
)
from services.kit import inbox, outbox
from services.kit.database import Tx
from services.kit.errors import BookingNotKnownYet, SubscriptionNotKnownYet
from services.kit.refusals import Refusal

F = TypeVar("F")

TICK_BATCH = 500  # records a tick decides on per round


async def _known(tx: Tx, subscription_id: UUID) -> Record:
    """The subscription's record, locked; retried until its activation has been handled
    (it travels on another queue)."""
    record = await store.load_record(tx, subscription_id)
    if record is None:
        raise SubscriptionNotKnownYet(str(subscription_id))
    return record


async def _carry_out(tx: Tx, before: Record, change: Change) -> str:
    await store.save_record(tx, before, change.record, change.history)
    await store.save_appeals(tx, change.appeals)
    await outbox.add(tx, change.events)
    return change.outcome


async def _decide_each(
    tx: Tx,
    facts: Sequence[tuple[UUID, F]],
    decide: Callable[[Record, F], Change],
    records: dict[UUID, Record] | None = None,
) -> list[str]:
    """Apply facts (each with its subscription) in order, as one by one would: each
    record loaded and locked once (unless the caller has: `records`), decided on in
    memory, saved and announced set-based."""
    if records is None:
        records = await store.load_records(tx, (subscription_id for subscription_id, _ in facts))
    before = dict(records)
    changes: list[Change] = []
    for subscription_id, fact in facts:
        if subscription_id not in records:  # its batch is split; this fact is retried alone
            raise SubscriptionNotKnownYet(str(subscription_id))
        changes.append(decide(records[subscription_id], fact))
        records[subscription_id] = changes[-1].record
    changed = [(before[i], r) for i, r in records.items() if r != before[i]]
    await store.save_records(tx, changed, [h for c in changes for h in c.history])
    await store.save_appeals(tx, [a for c in changes for a in c.appeals])
    await outbox.add(tx, [e for c in changes for e in c.events])
    return [c.outcome for c in changes]


# --- the schedule and subscriptions --------------------------------------------------


async def add_subscriptions(
    tx: Tx, msgs: Sequence[SubscriptionActivated], policy: Policy
) -> list[str]:
    created = await store.add_subscriptions(tx, msgs)
    outcomes = []
    for m in msgs:  # activated twice in one batch: the first is the one stored
        outcomes.append("subscription stored" if m.subscription_id in created else "already known")
        created.discard(m.subscription_id)
    return outcomes


async def renew_subscription(tx: Tx, msg: SubscriptionRenewed, policy: Policy) -> str:
    record = await _known(tx, msg.subscription_id)
    return await _carry_out(tx, record, record.renew(msg, policy))


async def end_subscription(tx: Tx, msg: SubscriptionEnded, policy: Policy) -> str:
    record = await _known(tx, msg.subscription_id)
    return await _carry_out(tx, record, record.end(msg))


# The schedule copy decides nothing: it may arrive before the activation, and is kept
# set-based. A cancellation waits for the lock, so a decision never sees half of it. A
# make-up's booking (rare) is also a line of the history; a cycle's costs nothing more.
async def add_bookings(tx: Tx, msgs: Sequence[BookingsScheduled], policy: Policy) -> list[str]:
    rows = [
        store.booking_row(m.subscription_id, m.mentee_id, b.booking_id, b.starts_at, b.ends_at)
        for m in msgs
        for b in m.bookings
    ]
    added = await store.insert_bookings(tx, rows)
    if booked := [makeups.booked(m) for m in msgs if m.kind == "makeup"]:
        await _add_makeup_steps(tx, booked)
    outcomes = []
    for m in msgs:  # a booking listed twice in one batch is added by its first listing
        mine = {b.booking_id for b in m.bookings} & added
        added -= mine
        outcomes.append(f"{len(mine)} bookings added to the schedule")
    return outcomes


async def record_makeup_steps(
    tx: Tx, msgs: Sequence[makeups.MakeupEvent], policy: Policy
) -> list[str]:
    """A step of a make-up owed for a session the mentor missed (booking's): a line of the
    history, once per step and time; owed again says so when the earlier owed is known."""
    owed = [m.missed_booking_id for m in msgs if isinstance(m, MakeupOwed)]
    steps = makeups.steps(msgs, await store.makeup_steps_of(tx, owed))
    written = await _add_makeup_steps(tx, steps)
    return [
        f"make-up {s.entry.new_status} {'in' if s.key in written else 'already in'} the history"
        for s in steps
    ]


async def _add_makeup_steps(tx: Tx, steps: Sequence[makeups.Step]) -> set[makeups.StepKey]:
    """Written once the subscription's activation has been handled (it travels on another
    queue): until then retried, as the facts that decide on its record are."""
    unknown = await store.unknown_subscriptions(tx, (s.entry.subscription_id for s in steps))
    if unknown:
        raise SubscriptionNotKnownYet(str(min(unknown)))
    return await store.add_makeup_steps(tx, steps)


async def cancel_bookings(tx: Tx, msgs: Sequence[BookingsCancelled], policy: Policy) -> list[str]:
    await store.lock_subscriptions(tx, (m.subscription_id for m in msgs))
    cancelled = await store.cancel_bookings(tx, [b for m in msgs for b in m.booking_ids])
    return [f"{len(cancelled & set(m.booking_ids))} bookings cancelled ({m.reason})" for m in msgs]


# --- marks and the absence policy ----------------------------------------------------


async def record_joins(tx: Tx, msgs: Sequence[SessionJoined], policy: Policy) -> list[str]:
    """A join inside the booking's window marks the mentee present. The gateway checked
    the booking with booking, so one attendance does not know yet is retried until its
    schedule (another queue) has arrived, not dropped."""
    records = await store.load_records_of_bookings(tx, (m.booking_id for m in msgs))
    owners = {s.booking_id: r.subscription_id for r in records.values() for s in r.sessions}
    unknown = [m.booking_id for m in msgs if m.booking_id not in owners]
    if unknown:  # its batch is split; the join is retried alone, then dead-lettered
        known = await store.subscriptions_of_bookings(tx, unknown)
        if unknown[0] in known:  # its schedule is here, its subscription not yet
            raise SubscriptionNotKnownYet(str(known[unknown[0]]))
        raise BookingNotKnownYet(str(unknown[0]))
    facts = [(owners[m.booking_id], m) for m in msgs]
    return await _decide_each(tx, facts, lambda r, m: r.record_join(m, policy), records)


async def record_cancellations(
    tx: Tx, msgs: Sequence[BookingCancelled], policy: Policy
) -> list[str]:
    """The mentee cancelled ahead: the session holds the cancellation, in time or late."""
    facts = [(m.subscription_id, m) for m in msgs]
    return await _decide_each(tx, facts, lambda r, m: r.record_cancellation(m, policy))


async def record_absences(tx: Tx, msgs: Sequence[BookingUnattended], policy: Policy) -> list[str]:
    """The sweep found no attendance: unless attendance holds a mark, record an absence."""
    facts = [(m.subscription_id, m) for m in msgs]
    return await _decide_each(tx, facts, lambda r, m: r.record_absence(m, policy))


async def on_tick(tx: Tx, msg: SweepTick, policy: Policy) -> str:
    """The tick applies the pending reprobations due by then (REPROBATION_REVIEW_HOURS)
    and lifts those whose after_days:N have passed (REPROBATION_ENDS, or the
    subscription's own)."""
    applied = await _each_due(
        tx,
        lambda batch: store.due_by(tx, "reprobation_due_at", msg.tick_at, batch),
        lambda r: r.apply_pending(msg.tick_at, policy),
        "pending reprobation applied",
    )
    lifted = await _each_due(
        tx,
        lambda batch: store.due_by(tx, "reprobation_lifts_at", msg.tick_at, batch),
        lambda r: r.lift_expired(msg.tick_at, policy),
        "reprobation lifted",
    )
    done = [f"{applied} pending reprobations applied"] if applied else []
    done += [f"{lifted} reprobations lifted"] if lifted else []
    return "; ".join(done) or "no reprobation due"


async def _each_due(
    tx: Tx,
    find: Callable[[int], Awaitable[list[UUID]]],
    decide: Callable[[Record], Change],
    done_outcome: str,
) -> int:
    """Decide on what `find` says is due, a round of records at a time, until a round
    finds fewer than a full batch or decides nothing; returns how many it decided."""
    done = 0
    while ids := await find(TICK_BATCH):
        outcomes = await _decide_each(tx, [(i, None) for i in ids], lambda r, _: decide(r))
        decided = sum(o.startswith(done_outcome) for o in outcomes)
        done += decided
        if len(ids) < TICK_BATCH or not decided:
            return done
    return done


# --- the mentor's reads and commands -------------------------------------------------


async def list_subscribers(tx: Tx, request: ListSubscribers, policy: Policy) -> SubscribersReply:
    await store.one_snapshot(tx)
    subscribers = await store.subscribers_of(
        tx, request.mentor_id, request.now, counting_statuses(policy)
    )
    near = await store.sessions_near(tx, request.mentor_id, request.now)
    return SubscribersReply(
        subscribers=[replies.summary(s, policy) for s in subscribers],
        near=[NearSession.model_validate(n) for n in near],
        # The mentor's own, so each subscriber carries the same.
        mentor_timezone=subscribers[0].mentor_timezone if subscribers else None,
    )


async def get_subscriber(tx: Tx, request: GetSubscriber, policy: Policy) -> SubscriberReply:
    await store.one_snapshot(tx)
    detail = await _detail(tx, request.subscription_id, request.mentor_id, request.now, policy)
    if isinstance(detail, Refusal):
        return SubscriberReply(error=replies.error(detail))
    return SubscriberReply(subscriber=detail)


async def get_mentee_standing(
    tx: Tx, request: GetMenteeStanding, policy: Policy
) -> MenteeStandingReply:
    """The mentee's own subscriptions, each as its mentor sees it (ended ones last)."""
    await store.one_snapshot(tx)
    found = await store.subscriptions_of_mentee(
        tx, request.mentee_id, request.now, counting_statuses(policy)
    )
    ids = [s.subscription_id for s in found]
    sessions = await store.sessions_of_many(tx, ids)
    appeals = await store.appeals_of_many(tx, ids)
    details = [
        replies.detail(s, sessions[s.subscription_id], policy, appeals[s.subscription_id])
        for s in sorted(found, key=lambda s: s.ended)
    ]
    return MenteeStandingReply(subscriptions=details)


async def get_history(tx: Tx, request: GetHistory, policy: Policy) -> HistoryReply:
    """The subscription's history, for its mentor only."""
    owner = await store.owner_of(tx, request.subscription_id)
    if owner is None:
        return HistoryReply(error=replies.error(Refusal("not_found", "no such subscription")))
    refusal = only_their_mentor(owner.mentor_id, request.mentor_id)
    if refusal is not None:
        return HistoryReply(error=replies.error(refusal))
    lines = await store.history_of(tx, request.subscription_id)
    return HistoryReply(timezone=owner.slot_timezone, history=replies.history(lines))


async def export_attendance(tx: Tx, request: ExportAttendance, policy: Policy) -> AttendanceExport:
    """The mentor's own sessions in the range, whoever's subscriber they are."""
    sessions = await store.sessions_of_mentor(
        tx, request.mentor_id, request.starts_from, request.starts_before
    )
    return AttendanceExport(sessions=replies.exported(sessions))


# --- the mentor's own policy --------------------------------------------------------


async def get_mentor_policy(tx: Tx, request: GetMentorPolicy, policy: Policy) -> MentorPolicyReply:
    return await _mentor_policy(tx, request.mentor_id, policy)


async def set_mentor_policy(tx: Tx, request: SetMentorPolicy, policy: Policy) -> MentorPolicyReply:
    """The mentor's own policy from now on: a new version (rules met before it stay
    judged by the one then in force), a line in the history of each subscription it
    applies to, and mentor.policy_changed; once per request id, and not at all when it
    is the policy they have (a PUT sent again)."""
    claimed = await inbox.claim(tx, f"attendance:{request.routing_key}", request.request_id)
    previous = await store.mentor_policy(tx, request.mentor_id)
    unchanged = (previous[1] if previous else SubscriptionPolicy()) == request.policy
    if claimed and not unchanged:
        live = await store.lock_live_subscriptions_of_mentor(tx, request.mentor_id)
        edit = MentorPolicyEdit.of(request, previous, [s for s, _ in live])
        await store.add_mentor_policy(tx, request.mentor_id, edit.since, request.policy)
        await store.save_records(tx, [], edit.history)
        await outbox.add(tx, [edit.event])
    return await _mentor_policy(tx, request.mentor_id, policy)


async def _mentor_policy(tx: Tx, mentor_id: UUID, policy: Policy) -> MentorPolicyReply:
    own = await store.mentor_policy(tx, mentor_id)
    live, with_own = await store.live_subscriptions_of_mentor(tx, mentor_id)
    return MentorPolicyReply(
        policy=None if own is None else own[1],
        since=None if own is None else own[0],
        settings=as_fields(policy),
        subscriptions=live,
        with_own_policy=with_own,
    )


# Subscriptions read per statement while a preview replays them.
PREVIEW_PAGE = 500


async def preview_policy(tx: Tx, request: PreviewPolicy, policy: Policy) -> PolicyPreview:
    """What a proposed policy would have done to a mentor's subscribers (or everyone's),
    beside what the policy in force did, each replayed from its recorded marks over its
    cycle or the range asked for. Reads only."""
    proposed = preview.proposing(policy, request.proposed)
    previewed: list[replies.Previewed] = []
    after = UUID(int=0)
    while page := await store.records_to_preview(tx, request.mentor_id, after, PREVIEW_PAGE):
        for record, mentee_name in page:
            span = (
                request.starts_from or record.cycle_starts_at,
                request.starts_before or record.cycle_ends_at,
            )
            current, then = preview.compare(
                record, policy, proposed, span, instead_of_mentors=bool(request.mentor_id)
            )
            previewed.append(replies.Previewed(record, mentee_name, current, then))
        after = page[-1][0].subscription_id
    return replies.policy_preview(previewed, every=request.mentor_id is not None)


async def mark_attendance(tx: Tx, request: MarkAttendance, policy: Policy) -> SubscriberChanged:
    """A mentor's mark: overrides the system's, recounts the streak."""
    return await _on_booking(tx, request, policy, lambda r: r.mark(request, policy))


async def clear_mark(tx: Tx, request: ClearMark, policy: Policy) -> SubscriberChanged:
    """A mentor takes back their mark of a session not started yet: unmarked again."""
    return await _on_booking(tx, request, policy, lambda r: r.clear(request, policy))


async def _on_booking(
    tx: Tx,
    request: MarkAttendance | ClearMark,
    policy: Policy,
    decide: Callable[[Record], Change | Refusal],
) -> SubscriberChanged:
    """A mentor's command on one booking, decided on its subscription's locked record."""
    subscription_id = await store.subscription_of_booking(tx, request.booking_id)
    record = None if subscription_id is None else await store.load_record(tx, subscription_id)
    if record is None:
        return _refused(Refusal("not_found", "no such booking"))
    return await _decided(tx, request, record, decide(record), policy)


async def reactivate(tx: Tx, request: ReactivateMentee, policy: Policy) -> SubscriberChanged:
    """Lift a reprobation: the streak starts over and booking regenerates the cycle."""
    return await _on_subscriber(tx, request, policy, lambda r: r.reactivate(request))


async def waive_reprobation(tx: Tx, request: WaiveReprobation, policy: Policy) -> SubscriberChanged:
    """The mentor waives a pending reprobation: nothing is cancelled, the streak restarts."""
    return await _on_subscriber(tx, request, policy, lambda r: r.waive(request))


async def _on_subscriber(
    tx: Tx,
    request: ReactivateMentee | WaiveReprobation,
    policy: Policy,
    decide: Callable[[Record], Change | Refusal],
) -> SubscriberChanged:
    """A mentor's command on one subscription: decided on its locked record, carried out
    once per request id (a retried request is a no-op), answered with the subscriber."""
    record = await store.load_record(tx, request.subscription_id)
    if record is None:
        return _refused(Refusal("not_found", "no such subscription"))
    return await _decided(tx, request, record, decide(record), policy)


async def _decided(
    tx: Tx,
    request: MarkAttendance | ClearMark | ReactivateMentee | WaiveReprobation | DecideAppeal,
    record: Record,
    change: Change | Refusal,
    policy: Policy,
) -> SubscriberChanged:
    """Carried out once per request id (the request id is the first event's id too, and a
    retried request is a no-op), answered with the subscriber, their status before and
    the events set off, so that the page can say what happened."""
    if isinstance(change, Refusal):
        return _refused(change)
    at = request.marked_at if isinstance(request, MarkAttendance) else request.requested_at
    published: list[str] = []
    if await inbox.claim(tx, f"attendance:{request.routing_key}", request.request_id):
        await _carry_out(tx, record, change)
        published = [event.routing_key for event in change.events]
    reply = await _changed(tx, record.subscription_id, request.mentor_id, at, policy)
    before = replies.status_of(record, policy)
    return reply.model_copy(update={"status_before": before, "published": published})


# --- appeals -------------------------------------------------------------------------


async def appeal_absence(tx: Tx, request: AppealAbsence, policy: Policy) -> AppealReply:
    """The mentee contests an absence; its mentor is told (appeal.filed)."""
    subscription_id = await store.subscription_of_booking(tx, request.booking_id)
    record = None if subscription_id is None else await store.load_record(tx, subscription_id)
    if record is None:
        return AppealReply(error=replies.error(Refusal("not_found", "no such booking")))
    earlier = await store.appeals_of_booking(tx, request.booking_id)
    # The same request again (a retry): the appeal it filed.
    filed = next((a for a in earlier if a.appeal_id == request.request_id), None)
    if filed is None:
        change = record.appeal(request, earlier, policy)
        if isinstance(change, Refusal):
            return AppealReply(error=replies.error(change))
        await _carry_out(tx, record, change)
        filed = change.appeals[0]
    return AppealReply(appeal=replies.appeals([filed], record.sessions)[0])


async def decide_appeal(tx: Tx, request: DecideAppeal, policy: Policy) -> SubscriberChanged:
    """The mentor accepts (the session becomes excused) or rejects an open appeal."""
    found = await store.appeal(tx, request.appeal_id)
    record = None if found is None else await store.load_record(tx, found.subscription_id)
    if record is None:
        return _refused(Refusal("not_found", "no such appeal"))
    # Read again under the subscription's lock: a decision made meanwhile stands.
    appeal = await store.appeal(tx, request.appeal_id)
    if appeal is None:
        return _refused(Refusal("not_found", "no such appeal"))
    return await _decided(
        tx, request, record, record.decide_appeal(appeal, request, policy), policy
    )


async def _detail(
    tx: Tx, subscription_id: UUID, mentor_id: UUID, now: datetime, policy: Policy
) -> SubscriberDetail | Refusal:
    subscriber = await store.subscriber(tx, subscription_id, now, counting_statuses(policy))
    if subscriber is None:
        return Refusal("not_found", "no such subscription")
    refusal = only_their_mentor(subscriber.mentor_id, mentor_id)
    if refusal is not None:
        return refusal
    sessions = await store.sessions_of(tx, subscription_id)
    appeals = await store.appeals_of(tx, subscription_id)
    return replies.detail(subscriber, sessions, policy, appeals)


async def _changed(
    tx: Tx, subscription_id: UUID, mentor_id: UUID, now: datetime, policy: Policy
) -> SubscriberChanged:
    """The reply to a mentor's command: the subscriber as it is after it."""
    detail = await _detail(tx, subscription_id, mentor_id, now, policy)
    if isinstance(detail, Refusal):
        return _refused(detail)
    return SubscriberChanged(subscriber=detail)


def _refused(refusal: Refusal) -> SubscriberChanged:
    return SubscriberChanged(error=replies.error(refusal))
