"""What the emails say and to whom, rendered from the real templates, without I/O."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import SMTP, default
from html.parser import HTMLParser

import pytest

from contracts import (
    BookingCancelled,
    BookingsCancelled,
    MenteeReactivated,
    MenteeReprobated,
    MenteeReprobationPending,
    MenteeWarned,
    MentorMissed,
    Person,
    Slot,
    SubscriptionActivated,
)
from services.notifications import domain
from services.notifications.domain import Contacts, Email
from services.notifications.sender import _usual_wire, build_message, render_message
from services.notifications.templates import Templates

CONTACTS = Contacts(
    mentee_name="Maria <Mentee>",
    mentee_email="maria@example.com",
    mentor_name="Otto Mentor",
    mentor_email="otto@example.com",
    slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="Europe/Lisbon"),
    cycle_ends_at=datetime(2026, 4, 27, tzinfo=UTC),
)
MISSED = datetime(2026, 4, 6, 17, 0, tzinfo=UTC)  # 18:00 in Lisbon (summer time)


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in {"meta", "br"}:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text += data


def well_formed_text(html: str) -> str:
    checker = _Checker()
    checker.feed(html)
    assert checker.open == [], checker.open
    return " ".join(checker.text.split())


SUBSCRIPTION, MENTEE, MENTOR = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def warned_at_once() -> MenteeWarned:
    """A warning for the absence at MISSED, sent at once."""
    return MenteeWarned(
        occurred_at=MISSED,
        subscription_id=SUBSCRIPTION,
        booking_id=uuid.uuid4(),
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        consecutive_absences=1,
        missed_starts_at=MISSED,
    )


def reprobated_at_once() -> MenteeReprobated:
    """A reprobation for the absence at MISSED, sent at once."""
    return MenteeReprobated(
        occurred_at=MISSED,
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        missed_booking_ids=[uuid.uuid4()],
        missed_starts_at=[MISSED],
        reprobated_at=MISSED,
    )


def test_a_warning_goes_to_mentee_and_mentor_with_the_missed_time_in_the_slots_zone() -> None:
    warning = warned_at_once().model_copy(update={"occurred_at": MISSED + timedelta(hours=2)})
    mentee_mail, mentor_mail = Templates().compose(warning, CONTACTS)
    assert (mentee_mail.recipient, mentor_mail.recipient) == (
        "maria@example.com",
        "otto@example.com",
    )
    assert mentee_mail.message_id == domain.message_id(warning.event_id, "maria@example.com")
    assert mentee_mail.routing_key == "mentee.warned" and mentee_mail.cc is None
    assert mentee_mail.subject == "You missed your mentorship session"
    assert mentor_mail.subject == "Maria <Mentee> missed a session"
    assert "Monday 6 April 2026 at 18:00 (Europe/Lisbon)" in mentee_mail.text_body
    assert "one more consecutive absence cancels the remaining" in " ".join(
        mentee_mail.text_body.split()
    )
    assert "Otto Mentor" in mentee_mail.text_body
    html_text = well_formed_text(mentor_mail.html_body)
    assert "Maria <Mentee> did not join" in html_text
    assert "&lt;Mentee&gt;" in mentor_mail.html_body  # names are escaped in HTML


def test_a_warning_says_how_many_more_absences_the_policy_in_force_takes() -> None:
    def next_step(reprobate_after: int | None, warned_at: int = 1) -> str:
        warning = warned_at_once().model_copy(
            update={"reprobate_after_absences": reprobate_after, "consecutive_absences": warned_at}
        )
        mentee_mail, mentor_mail = Templates().compose(warning, CONTACTS)
        for mail in (mentee_mail, mentor_mail):
            assert "What happens next" in well_formed_text(mail.html_body)
        text = " ".join(mentee_mail.text_body.split())
        return text.split("What happens next: ", 1)[1].split(" the remaining", 1)[0]

    assert next_step(None) == "one more consecutive absence cancels"  # as before the field
    assert next_step(2) == "one more consecutive absence cancels"
    assert next_step(3) == "two more consecutive absences cancel"
    assert next_step(4, warned_at=2) == "two more consecutive absences cancel"
    assert next_step(12) == "11 more consecutive absences cancel"


def read(event: MenteeWarned | MenteeReprobated | MenteeReprobationPending) -> dict[str, str]:
    """Each email `event` sends, text and html, as its reader reads it (one line, tags
    dropped), by "mentee text", "mentor html" and so on."""
    read_as: dict[str, str] = {}
    for mail in Templates().compose(event, CONTACTS):
        who = "mentor" if mail.recipient == CONTACTS.mentor_email else "mentee"
        read_as[f"{who} text"] = " ".join(mail.text_body.split())
        read_as[f"{who} html"] = well_formed_text(mail.html_body)
    return read_as


def says(read_as: dict[str, str], who: str, sentence: str) -> bool:
    return all(sentence in read_as[f"{who} {part}"] for part in ("text", "html"))


def warned_by(rule: str, detail: str, **policy: object) -> MenteeWarned:
    """A warning by `rule`, having counted `detail`, under `policy` (the event's fields)."""
    return warned_at_once().model_copy(update={"rule": rule, "rule_detail": detail, **policy})


IN_DAYS = ("absences_in_days", "2 absences within 14 days")


def test_a_warning_for_absences_within_days_says_what_was_counted() -> None:
    emails = read(warned_by(*IN_DAYS))
    assert says(emails, "mentee", "(Europe/Lisbon). You now have 2 absences within 14 days.")
    assert says(emails, "mentor", "Maria <Mentee> now has 2 absences within 14 days.")
    # Only consecutive absences reprobate: attending resets that count, not the window.
    assert says(
        emails,
        "mentee",
        "What happens next: one more consecutive absence cancels the remaining sessions of "
        "this cycle. Attending your next session resets the consecutive count.",
    )
    assert says(emails, "mentor", "one more consecutive absence cancels the remaining")
    assert "Attending" not in emails["mentor text"] + emails["mentor html"]


def test_a_warning_under_a_window_that_reprobates_says_that_rule_and_no_reset() -> None:
    emails = read(
        warned_by(*IN_DAYS, reprobate_after_absences=3, reprobate_after_absences_in_days="3:30")
    )
    for who in ("mentee", "mentor"):
        assert says(
            emails,
            who,
            "What happens next: 3 absences within 30 days cancel the remaining sessions of "
            "this cycle; an absence stops counting once it is more than 30 days old. "
            "Two more consecutive absences cancel them too.",
        )
        assert "resets" not in emails[f"{who} text"] + emails[f"{who} html"]


def test_a_warning_for_absences_within_days_lists_them_and_until_when_each_counts() -> None:
    counted = {"counted_starts_at": [MISSED - timedelta(days=7), MISSED], "counted_for_days": 14}
    emails = read(warned_by(*IN_DAYS, reprobate_after_absences_in_days="3:30", **counted))
    listed = (
        "Each counts towards 2 absences within 14 days until 14 days after its session: "
        "{}Monday 30 March 2026 at 18:00 (Europe/Lisbon): until Monday 13 April 2026 at "
        "18:00 (Europe/Lisbon) {}Monday 6 April 2026 at 18:00 (Europe/Lisbon): until "
        "Monday 20 April 2026 at 18:00 (Europe/Lisbon)"
    )
    for who in ("mentee", "mentor"):
        assert listed.format("- ", "- ") in emails[f"{who} text"]
        assert listed.format("", "") in emails[f"{who} html"]
    # The list comes before what happens next, which still says the reprobation's rule.
    mentee = emails["mentee text"]
    assert mentee.index("Each counts towards") < mentee.index("What happens next: 3 absences")


def test_a_warning_lists_no_absences_unless_a_window_rule_says_its_days() -> None:
    """A consecutive or rate warning carries its counted absences too, and an older
    producer's window warning no days: each email reads as it did before the list."""
    starts = {"counted_starts_at": [MISSED - timedelta(days=7), MISSED]}
    for rule, detail in (("consecutive", "2 absences in a row"), IN_DAYS):
        plain = Templates().compose(warned_by(rule, detail), CONTACTS)
        listed = Templates().compose(warned_by(rule, detail, **starts), CONTACTS)
        assert [(m.text_body, m.html_body) for m in listed] == [
            (m.text_body, m.html_body) for m in plain
        ]
        assert "Each counts" not in listed[0].text_body


def test_a_window_rule_of_one_absence_reads_in_the_singular() -> None:
    warning = warned_by(
        "absences_in_days",
        "1 absence within 1 day",
        consecutive_absences=2,
        reprobate_after_absences=3,
        reprobate_after_absences_in_days="1:1",
    )
    emails = read(warning)
    assert says(emails, "mentee", "You now have 1 absence within 1 day.")
    assert says(
        emails,
        "mentor",
        "1 absence within 1 day cancels the remaining sessions of this cycle; an absence "
        "stops counting once it is more than 1 day old. One more consecutive absence "
        "cancels them too.",
    )


def test_a_consecutive_warning_also_says_a_window_that_reprobates() -> None:
    emails = read(
        warned_by("consecutive", "1 absence in a row", reprobate_after_absences_in_days="3:30")
    )
    assert says(emails, "mentee", "What happens next: 3 absences within 30 days cancel")
    assert says(emails, "mentee", "One more consecutive absence cancels them too.")
    assert "now has" not in emails["mentor text"] + emails["mentor html"]


def test_a_warning_for_the_attendance_rate_says_the_rate_and_the_consecutive_rule() -> None:
    warning = warned_by(
        "attendance_rate",
        "attended 2 of the last 4 sessions (50%, below 75%)",
        consecutive_absences=2,
        reprobate_after_absences=4,
    )
    emails = read(warning)
    assert says(emails, "mentee", "You attended 2 of the last 4 sessions (50%, below 75%).")
    assert says(emails, "mentor", "Maria <Mentee> attended 2 of the last 4 sessions (50%,")
    for who in ("mentee", "mentor"):
        assert says(emails, who, "What happens next: two more consecutive absences cancel")
    assert says(emails, "mentee", "Attending your next session resets the consecutive count.")


WINDOW_REPROBATION = {"rule": "absences_in_days", "rule_detail": "3 absences within 30 days"}
THREE_MISSED = [MISSED - timedelta(weeks=4), MISSED - timedelta(weeks=2), MISSED]


def test_a_reprobation_by_absences_within_days_says_that_rule_not_a_streak() -> None:
    reprobation = reprobated_at_once().model_copy(
        update={
            **WINDOW_REPROBATION,
            "missed_booking_ids": [uuid.uuid4() for _ in THREE_MISSED],
            "missed_starts_at": THREE_MISSED,
        }
    )
    emails = read(reprobation)
    assert says(
        emails, "mentee", "You now have 3 absences within 30 days, in your sessions with Otto"
    )
    assert says(
        emails, "mentor", "Maria <Mentee> now has 3 absences within 30 days, in their sessions"
    )
    assert says(emails, "mentee", "Monday 23 March 2026 at 17:00 (Europe/Lisbon)")
    assert all("consecutive" not in body for body in emails.values())


def test_a_pending_reprobation_by_absences_within_days_says_that_rule() -> None:
    pending = MenteeReprobationPending(
        occurred_at=MISSED,
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        missed_booking_ids=[uuid.uuid4() for _ in THREE_MISSED],
        missed_starts_at=THREE_MISSED,
        reached_at=MISSED,
        due_at=MISSED + timedelta(days=2),
        **WINDOW_REPROBATION,
    )
    emails = read(pending)
    assert set(emails) == {"mentor text", "mentor html"}
    assert says(emails, "mentor", "Maria <Mentee> now has 3 absences within 30 days (Monday 9")
    assert says(emails, "mentor", "a correction that brings the count below the threshold")
    assert all("consecutive" not in b and "streak" not in b for b in emails.values())
    # A consecutive one reads as ever.
    consecutive = read(pending.model_copy(update={"rule": None, "rule_detail": None}))
    assert says(consecutive, "mentor", "Maria <Mentee> missed 3 consecutive sessions (")
    assert says(consecutive, "mentor", "a correction that breaks the streak withdraws it")


def test_sessions_removed_by_a_reprobation_do_not_say_which_rule_it_was() -> None:
    # The event does not say which rule reprobated: the email says what is true of each.
    removed = BookingsCancelled(
        occurred_at=MISSED,
        subscription_id=SUBSCRIPTION,
        booking_ids=[uuid.uuid4()],
        reason="reprobation",
    )
    session = domain.Session(removed.booking_ids[0], MISSED, MISSED + timedelta(hours=1))
    [mail] = Templates().compose(removed, CONTACTS, [session])
    text = " ".join(mail.text_body.split())
    assert "because you were reprobated for missing too many sessions:" in text


PAGE = "https://mentors.example/dashboard/mentorship"


def test_a_warning_tells_the_mentee_until_when_to_appeal_on_their_page() -> None:
    until = MISSED + timedelta(days=7, hours=1, minutes=15)  # 19:15 in Lisbon
    warning = warned_at_once().model_copy(update={"appeal_until": until})
    templates = Templates(gateway_url="https://mentors.example/")
    to_mentee, to_mentor = templates.compose(warning, CONTACTS)
    text = " ".join(to_mentee.text_body.split())
    assert "you can appeal it until Monday 13 April 2026 at 19:15 (Europe/Lisbon)" in text
    assert f"{PAGE}/bookings" in text
    assert f'href="{PAGE}/bookings"' in to_mentee.html_body
    assert "until Monday 13 April 2026 at 19:15" in well_formed_text(to_mentee.html_body)
    # The mentor is sent to the subscriber's page, and hears nothing of appeals.
    assert f"{PAGE}/subscribers/{SUBSCRIPTION}" in to_mentor.text_body
    assert f'href="{PAGE}/subscribers/{SUBSCRIPTION}"' in to_mentor.html_body
    assert "appeal" not in to_mentor.text_body
    # With appeals off (no deadline), the mentee's email still links their page.
    [without, _] = templates.compose(warned_at_once(), CONTACTS)
    assert "appeal" not in without.text_body and f"{PAGE}/bookings" in without.text_body


def test_reprobation_and_reactivation_emails_link_each_reader_to_their_page() -> None:
    templates = Templates(gateway_url="https://mentors.example")
    to_mentee, to_mentor = templates.compose(reprobated_at_once(), CONTACTS)
    assert f"{PAGE}/bookings" in to_mentee.text_body
    assert f'href="{PAGE}/bookings"' in to_mentee.html_body
    assert f"{PAGE}/subscribers/{SUBSCRIPTION}" in to_mentor.text_body
    assert f'href="{PAGE}/subscribers/{SUBSCRIPTION}"' in to_mentor.html_body
    reactivation = MenteeReactivated(
        occurred_at=MISSED,
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        reactivated_by=MENTOR,
        reactivated_at=MISSED,
    )
    [reactivated] = templates.compose(reactivation, CONTACTS)
    assert f"{PAGE}/bookings" in reactivated.text_body
    assert f'href="{PAGE}/bookings"' in reactivated.html_body
    well_formed_text(reactivated.html_body)


def test_a_reprobation_says_sessions_are_cancelled_and_payment_continues() -> None:
    reprobation = MenteeReprobated(
        occurred_at=MISSED + timedelta(weeks=1, hours=2),
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        missed_booking_ids=[uuid.uuid4(), uuid.uuid4()],
        missed_starts_at=[MISSED, MISSED + timedelta(weeks=1)],
        reprobated_at=MISSED + timedelta(weeks=1, hours=2),
    )
    to_mentee, to_mentor = Templates().compose(reprobation, CONTACTS)
    assert to_mentor.recipient == "otto@example.com"
    text = " ".join(to_mentee.text_body.split())
    assert "cancelled" in text and "payment continue" in text and "reactivate" in text
    assert "Monday 13 April 2026 at 18:00" in text
    well_formed_text(to_mentee.html_body)


def test_a_reactivation_goes_to_the_mentee_with_the_mentor_in_copy_and_lists_the_sessions() -> None:
    reactivation = MenteeReactivated(
        occurred_at=MISSED + timedelta(hours=1),
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        reactivated_by=MENTOR,
        reactivated_at=MISSED + timedelta(hours=1),
    )
    [to_mentee] = Templates().compose(reactivation, CONTACTS)
    assert to_mentee.recipient == "maria@example.com" and to_mentee.cc == "otto@example.com"
    assert [s.day for s in domain.booked_sessions(CONTACTS, reactivation.reactivated_at)] == [
        13,
        20,
    ]
    assert "Monday 13 April 2026 at 18:00" in to_mentee.text_body
    assert "Monday 20 April 2026 at 18:00" in well_formed_text(to_mentee.html_body)


@pytest.mark.parametrize(
    ("lifted_by", "says"),
    [
        ("mentor", "Otto Mentor has reactivated your mentorship."),
        ("renewal", "Your subscription has renewed, which lifts your reprobation"),
        ("expiry", "Your reprobation has run its time"),
    ],
)
def test_a_lift_by_policy_says_what_lifted_it_and_books_up_to_the_cycle_it_names(
    lifted_by: str, says: str
) -> None:
    # A renewal's lift: attendance's cycle is a week longer than these contacts know.
    reactivation = MenteeReactivated(
        occurred_at=MISSED + timedelta(hours=1),
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        reactivated_by=MENTOR,
        reactivated_at=MISSED + timedelta(hours=1),
        lifted_by=lifted_by,
        cycle_ends_at=CONTACTS.cycle_ends_at + timedelta(weeks=1),
    )
    [to_mentee] = Templates().compose(reactivation, CONTACTS)
    text = " ".join(to_mentee.text_body.split())
    assert says in text and says in well_formed_text(to_mentee.html_body)
    assert "Monday 27 April 2026 at 18:00" in text  # in the cycle the event names


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("cancelled_in_time", "it does not count as an absence"),
        ("cancelled_late", "it counts as an absence"),
    ],
)
def test_a_cancellation_goes_to_the_mentor_with_the_mentee_in_copy(status: str, says: str) -> None:
    cancellation = BookingCancelled(
        occurred_at=MISSED - timedelta(days=2),
        booking_id=uuid.uuid4(),
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        starts_at=MISSED,
        ends_at=MISSED + timedelta(hours=1),
        cancelled_at=MISSED - timedelta(days=2),
        status=status,  # type: ignore[arg-type]
    )
    [to_mentor] = Templates().compose(cancellation, CONTACTS)
    assert to_mentor.recipient == "otto@example.com" and to_mentor.cc == "maria@example.com"
    assert to_mentor.subject == (
        "Maria <Mentee> cancelled the session on Monday 6 April 2026 at 18:00 (Europe/Lisbon)"
    )
    assert says in to_mentor.text_body and says in well_formed_text(to_mentor.html_body)
    assert "Maria &lt;Mentee&gt;" in to_mentor.html_body


def test_a_mentors_no_show_sends_the_mentee_an_apology_with_the_mentor_in_copy() -> None:
    missed = MentorMissed(
        occurred_at=MISSED + timedelta(hours=2),
        booking_id=uuid.uuid4(),
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        starts_at=MISSED,
        marked_by="system",
    )
    [apology] = Templates().compose(missed, CONTACTS)
    assert apology.recipient == "maria@example.com" and apology.cc == "otto@example.com"
    assert apology.subject == (
        "Sorry: Otto Mentor could not make it to your session on "
        "Monday 6 April 2026 at 18:00 (Europe/Lisbon)"
    )
    assert "does not count as an absence" in apology.text_body
    assert "does not count as an absence" in well_formed_text(apology.html_body)


def test_the_message_id_is_the_same_for_the_same_event_and_recipient() -> None:
    event = uuid.uuid4()
    assert domain.message_id(event, "a@example.com") == domain.message_id(event, "A@example.com")
    assert domain.message_id(event, "a@example.com") != domain.message_id(event, "b@example.com")
    assert domain.message_id(uuid.uuid4(), "a@example.com") != domain.message_id(
        event, "a@example.com"
    )


def test_retries_back_off_exponentially_with_jitter_up_to_a_cap() -> None:
    delays = [domain.retry_delay_seconds(n, 0.0) for n in range(1, 13)]
    assert delays[:3] == [1.0, 2.0, 4.0]
    assert delays == sorted(delays) and max(delays) <= 600
    assert domain.retry_delay_seconds(3, 0.99) > domain.retry_delay_seconds(3, 0.0)
    assert (
        domain.is_permanent(550) and not domain.is_permanent(451) and not domain.is_permanent(None)
    )


def test_an_email_has_a_text_and_an_html_part() -> None:
    row = type(
        "Row",
        (),
        {
            "recipient": "maria@example.com",
            "cc": "otto@example.com",
            "subject": "Hi",
            "message_id": "<x@mentorship-attendance>",
            "text_body": "plain",
            "html_body": "<p>rich</p>",
            "calendar": None,
        },
    )()
    message = build_message(row, "mentorship@localhost")
    assert (
        message["Cc"] == "otto@example.com" and message["Message-ID"] == "<x@mentorship-attendance>"
    )
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_the_bytes_sent_say_what_the_message_says() -> None:
    """`render_message` (what goes on the wire) against `build_message` (the reference):
    same headers and parts, once parsed as a receiving server would, ASCII or not."""
    reprobation = reprobated_at_once()
    contacts = [CONTACTS, replace(CONTACTS, mentee_name="João Ñúñez — ☃")]
    reactivation = MenteeReactivated(
        occurred_at=MISSED,
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        reactivated_by=MENTOR,
        reactivated_at=MISSED,
    )
    wire = default.clone(linesep="\r\n")
    for row in [
        e
        for c in contacts
        for ev in (reprobation, reactivation)
        for e in Templates().compose(ev, c)
    ]:
        sent = message_from_bytes(render_message(row, "mentorship@localhost"), policy=default)
        reference = message_from_bytes(
            build_message(row, "mentorship@localhost").as_bytes(policy=wire), policy=default
        )
        for header in ("From", "To", "Cc", "Subject", "Message-ID"):
            assert sent[header] == reference[header], header
        for kind in ("plain", "html"):
            part, expected = sent.get_body((kind,)), reference.get_body((kind,))
            assert part is not None and expected is not None
            assert part.get_content() == expected.get_content()


DATE = "Mon, 06 Apr 2026 17:00:00 -0000"
BOUNDARY = "=_0123456789abcdef01234567"


def _stdlib_wire(email: Email, sender: str = "mentorship@localhost") -> bytes:
    """`build_message`'s bytes as the stdlib writes them, with DATE and BOUNDARY."""
    message = build_message(email, sender)
    message.replace_header("Date", DATE)
    message.set_boundary(BOUNDARY)
    return message.as_bytes(policy=SMTP)


def test_the_usual_email_is_written_byte_for_byte_as_the_stdlib_writes_it() -> None:
    """`_usual_wire` (the usual email, written directly) against `build_message`'s
    EmailMessage as the stdlib writes it, with the same boundary and date; and it
    declines what it does not write (a header the stdlib would not write as it is, a
    calendar part), which the stdlib then writes."""
    [row, *_] = Templates().compose(warned_at_once(), CONTACTS)
    long_lines = "olá, " * 30 + "\n" + "\n".join(f"From line {n} " + "x" * 80 for n in range(12))
    written = [
        *Templates().compose(warned_at_once(), CONTACTS),
        *Templates().compose(reprobated_at_once(), CONTACTS),
        replace(row, text_body="From the start\nno final line break", html_body=""),
        replace(row, text_body="From: not a header\n\n\nFrom \nFrom\n", cc=None),
        replace(row, text_body="x" * 78, html_body="x" * 79),
        replace(row, text_body=long_lines, html_body="a\r\nb\rc=3D\n.\n"),
        replace(row, text_body="trailing spaces   \n\ttab\n=3D\n.\n", subject=" two  spaces "),
        replace(row, subject="s" * (78 - len("Subject: ")), recipient="a.b+c@x-y.example.com"),
        replace(row, text_body="olá\n"),  # quoted-printable, never 8bit
        replace(row, html_body="é" * 200),  # quoted-printable, never base64
        replace(row, text_body="a\x0cb" * 30),  # a form feed: no line break for email
    ]
    declined = [
        replace(row, subject="s" * (79 - len("Subject: "))),
        replace(row, subject="Olá"),
        replace(row, subject=""),
        replace(row, subject="=?utf-8?q?encoded?="),
        replace(row, subject="a\ttab"),
        replace(row, recipient="a@example.com, b@example.com"),
        replace(row, cc='"Otto" <otto@example.com>'),
        replace(row, message_id="<a b@c>"),
        replace(row, calendar="BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"),
    ]
    for email in written:
        direct = _usual_wire(email, "mentorship@localhost", BOUNDARY, DATE)
        assert direct is not None, email
        assert direct == _stdlib_wire(email)
    named = _usual_wire(row, "Mentorship Team <m@localhost>", BOUNDARY, DATE)
    assert named == _stdlib_wire(row, "Mentorship Team <m@localhost>")
    for email in declined:
        assert _usual_wire(email, "mentorship@localhost", BOUNDARY, DATE) is None, email
        assert message_from_bytes(render_message(email, "m@localhost"), policy=default)


def test_every_email_is_7bit_clean_whatever_its_text() -> None:
    """Non-ASCII text and long lines go quoted-printable, never 8bit: a relay without
    8BITMIME would mangle raw UTF-8 (internationalized addresses aside)."""
    [row, *_] = Templates().compose(warned_at_once(), CONTACTS)
    calendar_row = replace(row, calendar="BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n")
    for email in (replace(row, text_body="Olá, João\n"), replace(calendar_row, html_body="é" * 90)):
        wire = render_message(email, "m@localhost")
        assert wire.isascii(), wire
        parsed = message_from_bytes(wire, policy=default)
        texts = [
            part.get_content().replace("\r\n", "\n")
            for part in parsed.walk()
            if part.get_content_maintype() == "text"
        ]
        assert email.text_body in texts[0] and email.html_body in texts[1]


def test_a_header_with_a_line_break_can_never_be_sent() -> None:
    [row, _] = Templates().compose(warned_at_once(), CONTACTS)
    with pytest.raises(ValueError):
        render_message(replace(row, subject="Hi\nBcc: everyone@example.com"), "m@localhost")


@pytest.mark.parametrize(
    "value",
    [
        "You missed your mentorship session",
        "two  spaces\tand a tab; a, list",
        " leading and trailing ",
        "",
        "a" * 66,  # fits on the line with its name
        "a" * 67,  # one more: folded by the stdlib
        "word " * 30,
        'multipart/alternative; boundary="=_b966a897c4c10428499c5e14"',
        "João Ñúñez missed a session",
        "=?utf-8?q?already_encoded?=",
    ],
)
def test_a_header_is_written_as_the_stdlib_writes_it_or_left_to_it(value: str) -> None:
    [row, _] = Templates().compose(warned_at_once(), CONTACTS)
    for email in (replace(row, subject=value), replace(row, recipient=value, cc=value)):
        direct = _usual_wire(email, "mentorship@localhost", BOUNDARY, DATE)
        assert direct is None or direct == _stdlib_wire(email)


def test_a_new_subscription_sends_the_mentee_the_cycles_schedule_and_calendar_link() -> None:
    activation = SubscriptionActivated(
        occurred_at=MISSED - timedelta(days=1),  # the day before the cycle's first session
        subscription_id=SUBSCRIPTION,
        mentee=Person(id=MENTEE, name=CONTACTS.mentee_name, email=CONTACTS.mentee_email),
        mentor=Person(id=MENTOR, name=CONTACTS.mentor_name, email=CONTACTS.mentor_email),
        slot=CONTACTS.slot,
        cycle_starts_at=MISSED - timedelta(weeks=1),  # began a week before the activation
        cycle_ends_at=CONTACTS.cycle_ends_at,
    )
    templates = Templates(gateway_url="https://mentors.example")
    [schedule] = templates.compose(activation, CONTACTS, feed_token="tok3n-of-the-mentee")
    assert (schedule.recipient, schedule.cc) == ("maria@example.com", None)
    assert schedule.subject == "Your mentorship sessions with Otto Mentor"
    text = " ".join(schedule.text_body.split())
    # Only the sessions from the activation on, in the slot's zone.
    assert "Monday 30 March 2026" not in text
    for day in ("6", "13", "20"):
        assert f"Monday {day} April 2026 at 18:00 (Europe/Lisbon)" in text
    assert f"{PAGE}/bookings" in text
    assert "https://mentors.example/calendar/tok3n-of-the-mentee.ics" in text
    html = well_formed_text(schedule.html_body)
    assert "Monday 20 April 2026 at 18:00" in html
    assert 'href="https://mentors.example/calendar/tok3n-of-the-mentee.ics"' in schedule.html_body
    assert schedule.calendar is None  # the feed keeps the calendar, not an attachment


def test_another_activation_of_the_same_subscription_sends_no_second_schedule() -> None:
    first = SubscriptionActivated(
        occurred_at=MISSED,
        subscription_id=SUBSCRIPTION,
        mentee=Person(id=MENTEE, name=CONTACTS.mentee_name, email=CONTACTS.mentee_email),
        mentor=Person(id=MENTOR, name=CONTACTS.mentor_name, email=CONTACTS.mentor_email),
        slot=CONTACTS.slot,
        cycle_starts_at=MISSED,
        cycle_ends_at=CONTACTS.cycle_ends_at,
    )
    again = first.model_copy(update={"event_id": uuid.uuid4()})
    [one] = Templates().compose(first, CONTACTS)
    [other] = Templates().compose(again, CONTACTS)
    assert one.message_id == other.message_id  # the emails table keeps the first only


def test_the_mentor_reads_times_in_their_own_zone_named_by_its_place() -> None:
    sao_paulo = replace(CONTACTS, mentor_timezone="America/Sao_Paulo")
    to_mentee, to_mentor = Templates().compose(warned_at_once(), sao_paulo)
    assert "Monday 6 April 2026 at 18:00 (Europe/Lisbon)" in to_mentee.text_body
    assert "Monday 6 April 2026 at 14:00 (Sao Paulo time)" in to_mentor.text_body
    assert "Europe/Lisbon" not in to_mentor.text_body
    assert "at 14:00 (Sao Paulo time)" in well_formed_text(to_mentor.html_body)
    # Across midnight: the mentor's day, not the mentee's.
    tokyo = replace(CONTACTS, mentor_timezone="Asia/Tokyo")
    [_, to_mentor] = Templates().compose(reprobated_at_once(), tokyo)
    assert "Tuesday 7 April 2026 at 02:00 (Tokyo time)" in to_mentor.text_body


def test_an_email_reads_in_the_zone_of_its_addressee_the_other_in_copy() -> None:
    sao_paulo = replace(CONTACTS, mentor_timezone="America/Sao_Paulo")
    cancellation = BookingCancelled(
        occurred_at=MISSED - timedelta(days=2),
        booking_id=uuid.uuid4(),
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        starts_at=MISSED,
        ends_at=MISSED + timedelta(hours=1),
        cancelled_at=MISSED - timedelta(days=2),
        status="cancelled_in_time",
    )
    [to_mentor] = Templates().compose(cancellation, sao_paulo)
    assert to_mentor.cc == "maria@example.com"
    assert to_mentor.subject.endswith("on Monday 6 April 2026 at 14:00 (Sao Paulo time)")
    apology = MentorMissed(
        occurred_at=MISSED + timedelta(hours=2),
        booking_id=uuid.uuid4(),
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        starts_at=MISSED,
        marked_by="system",
    )
    [to_mentee] = Templates().compose(apology, sao_paulo)
    assert to_mentee.cc == "otto@example.com"
    assert to_mentee.subject.endswith("Monday 6 April 2026 at 18:00 (Europe/Lisbon)")
