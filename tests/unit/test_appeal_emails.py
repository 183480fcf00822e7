"""What the emails about appeals say and to whom, rendered from the real templates."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from contracts import AppealAccepted, AppealFiled, AppealRejected
from services.notifications import domain
from services.notifications.templates import Templates
from tests.unit.test_notifications_emails import (
    CONTACTS,
    MENTEE,
    MENTOR,
    MISSED,
    SUBSCRIPTION,
    well_formed_text,
)

SESSION_AT = "Monday 6 April 2026 at 18:00 (Europe/Lisbon)"
BOOKING, APPEAL = uuid.uuid4(), uuid.uuid4()
GATEWAY = "https://gateway.example.com"


def words(text: str) -> str:
    return " ".join(text.split())


def filed(reason: str = "My train was cancelled", status: str = "absent") -> AppealFiled:
    return AppealFiled(
        occurred_at=MISSED + timedelta(days=1),
        appeal_id=APPEAL,
        booking_id=BOOKING,
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        starts_at=MISSED,
        contested_status=status,  # type: ignore[arg-type]
        reason=reason,
        filed_at=MISSED + timedelta(days=1),  # Tuesday 7 April, 18:00 in Lisbon
    )


def _decided() -> dict[str, object]:
    """What both decisions say of the appeal, two days after the session."""
    return {
        "occurred_at": MISSED + timedelta(days=2),
        "appeal_id": APPEAL,
        "booking_id": BOOKING,
        "subscription_id": SUBSCRIPTION,
        "mentee_id": MENTEE,
        "mentor_id": MENTOR,
        "starts_at": MISSED,
        "contested_status": "absent",
        "appeal_reason": "My train was cancelled",
        "decided_by": MENTOR,
        "decided_at": MISSED + timedelta(days=2),
    }


def accepted(reprobation_lifted: bool = False, reason: str | None = None) -> AppealAccepted:
    return AppealAccepted.model_validate(
        {**_decided(), "reason": reason, "reprobation_lifted": reprobation_lifted}
    )


def rejected(reason: str = "You told me you would skip it") -> AppealRejected:
    return AppealRejected.model_validate({**_decided(), "reason": reason})


def test_an_appeal_goes_to_mentee_and_mentor_the_mentor_with_the_reason_and_a_link() -> None:
    appeal = filed()
    to_mentee, to_mentor = Templates(gateway_url=GATEWAY + "/").compose(appeal, CONTACTS)
    assert (to_mentee.recipient, to_mentor.recipient) == ("maria@example.com", "otto@example.com")
    assert to_mentee.cc is None and to_mentor.cc is None
    assert to_mentor.message_id == domain.message_id(appeal.event_id, "otto@example.com")
    assert to_mentor.routing_key == "appeal.filed" and to_mentor.calendar is None
    assert to_mentor.subject == f"Maria <Mentee> appeals the absence of {SESSION_AT}"
    assert to_mentee.subject != to_mentor.subject
    link = f"{GATEWAY}/dashboard/mentorship/subscribers/{SUBSCRIPTION}"
    mentor_text = words(to_mentor.text_body)
    assert f"Maria <Mentee> appeals the absence of {SESSION_AT}" in mentor_text
    assert "“My train was cancelled”" in mentor_text and link in mentor_text
    assert "accept it" in mentor_text and "reject it, with a reason" in mentor_text
    assert f'href="{link}"' in to_mentor.html_body
    assert "“My train was cancelled”" in well_formed_text(to_mentor.html_body)
    mentee_text = words(to_mentee.text_body)
    assert SESSION_AT in mentee_text and "Tuesday 7 April 2026 at 18:00" in mentee_text
    assert "Otto Mentor has been asked to decide" in mentee_text
    assert "email with the decision" in mentee_text and link not in mentee_text
    assert to_mentee.text_body.rstrip().endswith("Mentorship attendance")
    assert "Otto Mentor has been asked to decide" in well_formed_text(to_mentee.html_body)


def test_an_appeal_says_the_contested_status_in_words() -> None:
    to_mentee, to_mentor = Templates().compose(filed(status="cancelled_late"), CONTACTS)
    assert "marked cancelled late" in words(to_mentor.text_body)
    assert "marked cancelled late" in well_formed_text(to_mentee.html_body)


def test_an_accepted_appeal_that_lifted_a_reprobation_says_so_without_listing_sessions() -> None:
    to_mentee, to_mentor = Templates().compose(accepted(reprobation_lifted=True), CONTACTS)
    assert (to_mentee.recipient, to_mentor.recipient) == ("maria@example.com", "otto@example.com")
    assert to_mentee.calendar is None
    text = words(to_mentee.text_body)
    assert f"Your appeal of the absence of {SESSION_AT} was accepted" in text
    assert "it no longer counts against you" in text
    assert "Your reprobation is lifted; a separate email lists your sessions." in text
    assert "13 April" not in text  # the reactivation email lists them
    assert "Your reprobation is lifted" in well_formed_text(to_mentee.html_body)
    assert "You accepted the appeal of Maria <Mentee>" in words(to_mentor.text_body)
    assert "Their reprobation is lifted" in words(to_mentor.text_body)


def test_an_accepted_appeal_without_a_reprobation_does_not_mention_one() -> None:
    to_mentee, to_mentor = Templates().compose(accepted(), CONTACTS)
    assert "reprobation" not in to_mentee.text_body + to_mentee.html_body
    assert "reprobation" not in to_mentor.text_body + to_mentor.html_body
    assert "accepted" in to_mentee.subject and "accepted" in to_mentor.subject


def test_a_rejected_appeal_tells_the_mentee_the_mentors_reason_and_that_the_absence_stands() -> (
    None
):
    to_mentee, to_mentor = Templates().compose(rejected(), CONTACTS)
    assert (to_mentee.recipient, to_mentor.recipient) == ("maria@example.com", "otto@example.com")
    assert to_mentee.subject == f"Your appeal of the absence of {SESSION_AT} was rejected"
    assert to_mentee.subject != Templates().compose(accepted(), CONTACTS)[0].subject
    text = words(to_mentee.text_body)
    assert "Otto Mentor, rejected your appeal" in text
    assert "“You told me you would skip it”" in text and "stands" in text
    html_text = well_formed_text(to_mentee.html_body)
    assert "“You told me you would skip it”" in html_text and "stands" in html_text
    assert "You rejected the appeal of Maria <Mentee>" in words(to_mentor.text_body)
    assert "stands" in words(to_mentor.text_body)


def test_reasons_and_names_are_escaped_in_html() -> None:
    attack = "<script>alert(1)</script>"
    contacts = replace(CONTACTS, mentor_name="Otto <b>Mentor</b>")
    for event in (filed(reason=attack), rejected(reason=attack), accepted(reason=attack)):
        for email in Templates().compose(event, contacts):
            assert "<script>" not in email.html_body and "<b>" not in email.html_body
            well_formed_text(email.html_body)
    [_, to_mentor] = Templates().compose(filed(reason=attack), contacts)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in to_mentor.html_body
    assert attack in to_mentor.text_body  # plain text stays as written
    [to_mentee, _] = Templates().compose(rejected(reason=attack), contacts)
    assert "&lt;script&gt;" in to_mentee.html_body and "Maria &lt;Mentee&gt;" in to_mentee.html_body
