"""A mentor's own absence policy (read, set) and what if: a proposed policy, checked,
asked of attendance, which replays the recorded marks under it and under the policy in
force (nothing is written)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import SubscriptionPolicy
from contracts.rpc import (
    GetMentorPolicy,
    MentorPolicyReply,
    PolicyPreview,
    PreviewPolicy,
    PreviewTotals,
    SetMentorPolicy,
    SubscriberPreview,
)
from services.gateway import export
from services.gateway.owners import Owners


class PolicyBody(SubscriptionPolicy):
    """A mentor's own policy: each field set wins over the service's setting of the same
    name for all their subscriptions (a subscription that brought its own keeps its
    own); a field left out falls back to the settings; `{}`: the settings again."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"example": {"reprobate_after_absences_in_days": "3:30"}},
    )


class MentorPolicy(BaseModel):
    policy: SubscriptionPolicy | None = Field(description="the mentor's own; null: never set")
    since: datetime | None = Field(description="when it was set (applies from then on)")
    settings: SubscriptionPolicy = Field(description="what each field left unset falls back to")
    subscriptions: int = Field(description="the mentor's subscriptions it applies to")
    with_own_policy: int = Field(
        description="of those, how many brought their own, whose fields win over it"
    )


async def mentor_policy(owners: Owners, mentor_id: UUID) -> MentorPolicy:
    reply = await owners.ask(GetMentorPolicy(mentor_id=mentor_id), MentorPolicyReply)
    return MentorPolicy.model_validate(reply.model_dump(exclude={"error"}))


async def set_mentor_policy(
    owners: Owners, mentor_id: UUID, body: PolicyBody, now: datetime
) -> MentorPolicy:
    request = SetMentorPolicy(
        request_id=uuid4(),
        mentor_id=mentor_id,
        policy=SubscriptionPolicy.model_validate(body.model_dump()),
        requested_at=now,
    )
    reply = await owners.ask(request, MentorPolicyReply)
    return MentorPolicy.model_validate(reply.model_dump(exclude={"error"}))


class ProposalBody(SubscriptionPolicy):
    """A proposed policy: each field set replaces the service's setting of the same name
    (a subscription that brought its own keeps its own); `from` and `to` (UTC days, both
    included, together) replay only the sessions starting in them instead of each
    subscription's current cycle."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={
            "example": {"reprobate_after_absences_in_days": "3:30", "warn_after_absences": 1}
        },
    )

    starts_on: date | None = Field(default=None, alias="from", description="first day")
    ends_on: date | None = Field(default=None, alias="to", description="last day")

    @model_validator(mode="after")
    def _both_days_or_none(self) -> ProposalBody:
        if (self.starts_on is None) != (self.ends_on is None):
            raise ValueError('give both "from" and "to", or neither')
        return self

    def proposed(self) -> SubscriptionPolicy:
        return SubscriptionPolicy.model_validate(
            self.model_dump(include=set(SubscriptionPolicy.model_fields))
        )


class Preview(BaseModel):
    current: PreviewTotals = Field(description="the policy in force, replayed")
    proposed: PreviewTotals = Field(description="the proposal, replayed")
    subscriptions: int = Field(description="how many subscriptions were replayed")
    subscribers: list[SubscriberPreview]


async def preview(owners: Owners, mentor_id: UUID | None, body: ProposalBody) -> Preview:
    """The mentor's subscribers (or, with no mentor, every mentor's) under both."""
    span = (
        export.days(body.starts_on, body.ends_on)
        if body.starts_on is not None and body.ends_on is not None
        else (None, None)
    )
    request = PreviewPolicy(
        mentor_id=mentor_id, proposed=body.proposed(), starts_from=span[0], starts_before=span[1]
    )
    reply = await owners.ask(request, PolicyPreview)
    return Preview.model_validate(reply.model_dump(exclude={"error"}))
