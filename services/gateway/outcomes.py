"""What a mentor's action did, in words for the page that asked for it: the action
itself, then what it set off (attendance's reply names the events it published and
the subscriber's status before it), so that nothing changes silently."""

from __future__ import annotations

from typing import Literal

from contracts.rpc import SubscriberChanged


def status_words(status: str) -> str:
    """A mark's status as the mentor reads it: mentor_no_show is a mentor no-show."""
    return "mentor no-show" if status == "mentor_no_show" else status.replace("_", " ")


Action = Literal["mark", "clear", "reactivate", "waive", "accept", "reject"]


def what_happened(
    action: Action, reply: SubscriberChanged, session: str = "", status: str = ""
) -> str:
    """One line per consequence: `session` is the session acted on as the page writes
    it, `status` the mark given."""
    subscriber = reply.subscriber
    if subscriber is None:
        return ""
    name = subscriber.mentee_name
    if not reply.published:
        return "Nothing changed: that was already done."
    done = {
        "mark": f"Saved: {session} is marked {status_words(status)}.",
        "clear": f"Cleared: {session} is not marked.",
        "reactivate": f"{name} is reactivated and emailed; their sessions until the cycle "
        "ends are being booked.",
        "waive": f"The reprobation is waived: nothing is cancelled, and {name}'s count of "
        "absences in a row starts again.",
        "accept": f"Appeal accepted: {session} is excused, and {name} is emailed.",
        "reject": f"Appeal rejected: the absence of {session} stands, and {name} is emailed "
        "your reason.",
    }[action]
    followed = [] if action == "reactivate" else _followed_by(reply)
    return " ".join([done, *followed])


def _followed_by(reply: SubscriberChanged) -> list[str]:
    assert reply.subscriber is not None
    s, published = reply.subscriber, reply.published
    name = s.mentee_name
    lines = []
    if "mentor.missed" in published:
        lines.append(f"{name} is emailed an apology for the session you missed.")
    if "mentee.warned" in published:
        lines.append(f"{name} is warned: you and they are emailed.")
    if "mentee.reprobation_pending" in published:
        lines.append(
            f"{name} reached the reprobation threshold: it applies when the review time "
            "ends, unless you waive it or correct a mark."
        )
    if "mentee.reprobated" in published:
        lines.append(
            f"{name} is reprobated: their remaining sessions this cycle are cancelled "
            "and they are emailed."
        )
    if "mentee.reactivated" in published and reply.status_before == "reprobated":
        lines.append(
            f"{name} is no longer reprobated: they are emailed, and their sessions until "
            "the cycle ends are being booked."
        )
    if "mentee.reprobation_withdrawn" in published:
        lines.append("The pending reprobation is withdrawn: nothing will be cancelled.")
    if reply.status_before == "warned" and s.status == "active":
        lines.append(f"The warning is lifted: {name} is in good standing again.")
    return lines
