"""What if: a proposed absence policy, checked, asked of attendance, which replays the
recorded marks under it and under the policy in force (nothing is written)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import SubscriptionPolicy
from contracts.rpc import PolicyPreview, PreviewPolicy, PreviewTotals, SubscriberPreview
from services.gateway import export
from services.gateway.owners import Owners


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
