"""The mentor's policy page, pure: what a mentor types becomes a policy (or an error by
the field), a policy fills the form back exactly, and the rules in force, the proposal
and a preview's outcomes read in words."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from contracts import SubscriptionPolicy
from contracts.rpc import PreviewOutcome, PreviewReprobation, PreviewSession, PreviewWarning
from services.gateway.dashboard import templates
from services.gateway.policies import MentorPolicy
from services.gateway.policy_view import (
    InvalidPolicy,
    PolicyForm,
    applied_words,
    in_force,
    outcome_words,
    policy_of,
    proposal_words,
)
from services.gateway.times import reader
from tests.unit.test_reprobation_ends import panel

SETTINGS = SubscriptionPolicy(
    warn_after_absences=1,
    reprobate_after_absences=2,
    reprobation_review_hours=0,
    reprobation_ends="on_reactivation",
)


def test_a_window_typed_in_two_boxes_is_an_n_d_rule() -> None:
    policy = policy_of(PolicyForm(reprobate_within_absences="3", reprobate_within_days=" 30 "))
    assert policy.model_dump(exclude_none=True) == {"reprobate_after_absences_in_days": "3:30"}


def test_an_empty_form_is_the_settings_again() -> None:
    assert policy_of(PolicyForm()).model_dump(exclude_none=True) == {}


@pytest.mark.parametrize(
    ("typed", "field", "says"),
    [
        ({"warn_within_days": "14"}, "warn_after_absences_in_days", "Give both"),
        ({"reprobate_within_absences": "3"}, "reprobate_after_absences_in_days", "Give both"),
        (
            {"reprobate_within_absences": "3", "reprobate_within_days": "400"},
            "reprobate_after_absences_in_days",
            "whole number of days from 1 to 366",
        ),
        ({"warn_after_absences": "2.5"}, "warn_after_absences", "whole number from 1 to 100"),
        ({"reprobate_after_absences": "0"}, "reprobate_after_absences", "from 1 to 100"),
        ({"reprobate_after_absences": "three"}, "reprobate_after_absences", "Write a number"),
        ({"warn_below_attendance_rate": "0"}, "warn_below_attendance_rate", "above 0"),
        ({"reprobation_review_hours": "-1"}, "reprobation_review_hours", "from 0"),
        ({"reprobation_ends": "after_days"}, "reprobation_ends", "after how many days"),
        ({"reprobation_ends_days": "7"}, "reprobation_ends", "choose it, or clear them"),
    ],
)
def test_what_no_policy_can_be_made_of_is_said_by_its_field(
    typed: dict[str, str], field: str, says: str
) -> None:
    with pytest.raises(InvalidPolicy) as raised:
        policy_of(PolicyForm.model_validate(typed))
    assert list(raised.value.errors) == [field]
    assert says in raised.value.errors[field]


def test_every_wrong_field_is_said_at_once() -> None:
    typed = PolicyForm(warn_after_absences="0", warn_within_absences="2")
    with pytest.raises(InvalidPolicy) as raised:
        policy_of(typed)
    assert set(raised.value.errors) == {"warn_after_absences", "warn_after_absences_in_days"}


policies = st.builds(
    SubscriptionPolicy,
    warn_after_absences=st.none() | st.integers(1, 100),
    reprobate_after_absences=st.none() | st.integers(1, 100),
    reprobation_review_hours=st.none() | st.sampled_from([0, 0.5, 24, 48, 8784]),
    reprobation_ends=st.none()
    | st.sampled_from(["on_reactivation", "at_renewal"])
    | st.integers(1, 3660).map(lambda d: f"after_days:{d}"),
    warn_after_absences_in_days=st.none()
    | st.tuples(st.integers(1, 100), st.integers(1, 366)).map(lambda t: f"{t[0]}:{t[1]}"),
    reprobate_after_absences_in_days=st.none()
    | st.tuples(st.integers(1, 100), st.integers(1, 366)).map(lambda t: f"{t[0]}:{t[1]}"),
    warn_below_attendance_rate=st.none() | st.sampled_from([0.5, 50, 66.66667, 99.9, 100]),
    attendance_rate_sessions=st.none() | st.integers(1, 100),
)


@given(policies)
def test_the_form_a_policy_fills_says_that_policy_again(policy: SubscriptionPolicy) -> None:
    """What Apply carries in hidden fields is what was previewed."""
    assert policy_of(PolicyForm.of(policy)).model_dump() == policy.model_dump()


def test_each_rule_in_force_is_the_mentors_where_set_else_the_settings() -> None:
    own = SubscriptionPolicy(reprobate_after_absences_in_days="3:30", reprobation_ends="at_renewal")
    rules = {r.key: r for r in in_force(own, SETTINGS)}
    assert (
        rules["reprobate_after_absences_in_days"].words,
        rules["reprobate_after_absences_in_days"].yours,
    ) == ("3 absences within 30 days", True)
    assert (rules["reprobate_after_absences"].words, rules["reprobate_after_absences"].yours) == (
        "2 absences in a row",
        False,
    )
    assert rules["reprobation_ends"].words == "at the next paid renewal, or when you reactivate"
    assert (
        rules["warn_after_absences_in_days"].words,
        rules["warn_below_attendance_rate"].words,
    ) == ("off", "off")
    assert rules["reprobation_review_hours"].words == "none (it applies at once)"
    assert not any(r.yours for r in in_force(None, SETTINGS))


def test_the_attendance_rule_is_the_mentors_when_either_of_its_numbers_is() -> None:
    settings = SETTINGS.model_copy(update={"warn_below_attendance_rate": 75.0})
    [rate] = [
        r
        for r in in_force(SubscriptionPolicy(attendance_rate_sessions=4), settings)
        if r.key == "warn_below_attendance_rate"
    ]
    assert (rate.words, rate.yours) == ("below 75% over the last 4 sessions", True)


def test_a_proposal_reads_as_a_sentence_of_what_it_sets() -> None:
    assert proposal_words(SubscriptionPolicy(reprobate_after_absences_in_days="3:30")) == (
        "reprobated after 3 absences within 30 days; the rest as the service's settings"
    )
    assert proposal_words(
        SubscriptionPolicy(
            warn_after_absences=2, reprobation_review_hours=48, reprobation_ends="after_days:7"
        )
    ) == (
        "warned after 2 absences in a row; 48 hours to review a reprobation before it "
        "applies; a reprobation ends 7 days after it is applied, or when you reactivate; "
        "the rest as the service's settings"
    )
    assert proposal_words(SubscriptionPolicy()) == "the service's settings"


MONDAY = datetime(2026, 11, 9, 12, 0, tzinfo=UTC)


def test_an_outcome_names_each_session_in_the_readers_zone_and_the_rule() -> None:
    weeks = [MONDAY + timedelta(weeks=w) for w in (0, 2, 4)]
    missed = [PreviewSession(booking_id=uuid.uuid4(), starts_at=w) for w in weeks]
    outcome = PreviewOutcome(
        warnings=[
            PreviewWarning(
                **missed[0].model_dump(), rule="consecutive", detail="1 absence in a row"
            )
        ],
        reprobation=PreviewReprobation(
            reprobated_at=weeks[2],
            rule="absences_in_days",
            detail="3 absences within 30 days",
            missed=missed,
            cancelled_sessions=2,
        ),
    )
    assert outcome_words(outcome, "America/Sao_Paulo") == [
        "Warned for missing Mon 09 Nov 2026, 09:00 (1 absence in a row)",
        "Reprobated by 3 absences within 30 days (missed Mon 09 Nov 2026, 09:00; Mon 23 Nov "
        "2026, 09:00; Mon 07 Dec 2026, 09:00). 2 later sessions cancelled.",
    ]
    assert outcome_words(PreviewOutcome(), "UTC") == ["Neither warned nor reprobated"]


def test_apply_says_whom_it_applies_to_and_that_it_is_not_retroactive() -> None:
    def applied(subscriptions: int, own: int) -> str:
        current = MentorPolicy(
            policy=SubscriptionPolicy(warn_after_absences=2),
            since=MONDAY,
            settings=SETTINGS,
            subscriptions=subscriptions,
            with_own_policy=own,
        )
        return applied_words(current)

    assert applied(1, 0).startswith("Done: your policy applies from now on to 1 subscription.")
    assert "to 3 subscriptions (1 of them keeps its own policy, whose rules win)." in applied(3, 1)
    assert "(2 of them keep their own policy" in applied(3, 2)
    assert "not what already happened" in applied(1, 0)


def test_the_subscriber_page_says_when_the_policy_is_the_mentors_own() -> None:
    assert 'Policy (<a href="/dashboard/mentorship/policy">your own policy</a>)' in panel(
        policy_from="mentor"
    )
    assert "Policy (this subscription's own)" in panel(policy_from="subscription")
    assert "your own policy" not in panel()
    assert templates.env.get_template("policy.html")  # it parses


FULL = SubscriptionPolicy(
    warn_after_absences=2,
    reprobate_after_absences=4,
    reprobation_review_hours=48,
    reprobation_ends="after_days:7",
    warn_after_absences_in_days="2:14",
    reprobate_after_absences_in_days="3:30",
    warn_below_attendance_rate=75,
    attendance_rate_sessions=8,
)


PAGE_SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/dashboard/mentorship/policy",
    "headers": [],
    "query_string": b"",
    "scheme": "http",
    "server": ("gateway.test", 80),
}


def page(**context: object) -> str:
    current = MentorPolicy(
        policy=FULL, since=MONDAY, settings=SETTINGS, subscriptions=2, with_own_policy=0
    )
    return templates.env.get_template("policy.html").render(
        request=Request(PAGE_SCOPE),
        csrf_token="t",
        current=current,
        rules=in_force(FULL, SETTINGS),
        form=PolicyForm.of(FULL),
        setting=PolicyForm.of(SETTINGS),
        setting_words={r.key: r.words for r in in_force(None, SETTINGS)},
        errors={},
        own_policy=[],
        reading=reader(None, "UTC"),
        **context,
    )


def test_the_form_has_one_box_per_field_filled_with_the_policy() -> None:
    html = page()
    form = html[html.index('class="policy"') :]
    boxes = re.findall(r'<input type="number" id="(\w+)" name="(\w+)" value="([^"]*)"', form)
    assert all(box_id == name for box_id, name, _ in boxes)
    typed = {name: value for _, name, value in boxes}
    assert len(typed) == len(boxes)  # no name twice
    [ends] = re.findall(r'<option value="(\w*)" selected>', form)
    assert PolicyForm.model_validate({**typed, "reprobation_ends": ends}) == PolicyForm.of(FULL)
    assert set(typed) | {"reprobation_ends"} == set(PolicyForm.model_fields)
