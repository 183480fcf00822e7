"""The mentor's own absence policy, as a page: what is in force for their subscriptions,
a form to change it, a preview of what the change would have done to their subscribers'
recorded marks, and Apply, which sets exactly the policy previewed. Plain form posts (no
script needed), under the same session, CSRF checks and security headers as the other
dashboard pages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse

from contracts import SubscriptionPolicy
from contracts.rpc import ListSubscribers, SubscribersReply
from services.gateway import policies
from services.gateway.auth import Caller
from services.gateway.dashboard import (
    MentorChange,
    PageChange,
    PageMentor,
    page_routers,
    page_unavailable,
    reading_of,
    templates,
)
from services.gateway.dependencies import Now, OwnersDep
from services.gateway.owners import Owners
from services.gateway.policies import PolicyBody
from services.gateway.policy_view import (
    InvalidPolicy,
    PolicyForm,
    applied_words,
    in_force,
    policy_of,
    proposal_words,
    totals,
)

# The page, and its posts (each also refused as a forgery; `router` includes them).
router, changes = page_routers("/dashboard/mentorship", "dashboard")
TypedPolicy = Annotated[PolicyForm, Form()]
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "the form says no policy: the page, the error by its field"}
}


async def _standing(
    request: Request, owners: Owners, caller: Caller, now: datetime
) -> dict[str, Any]:
    """The page as it stands: the policy in force, whom it applies to, the form filled
    with the mentor's own values and the settings' as placeholders."""
    with page_unavailable("Your policy is unavailable"):
        current, listed = await asyncio.gather(
            policies.mentor_policy(owners, caller.user_id),
            owners.ask(ListSubscribers(mentor_id=caller.user_id, now=now), SubscribersReply),
        )
    return {
        "current": current,
        "rules": in_force(current.policy, current.settings),
        "form": PolicyForm.of(current.policy),
        "setting": PolicyForm.of(current.settings),
        "setting_words": {r.key: r.words for r in in_force(None, current.settings)},
        "errors": {},
        "own_policy": sorted(
            s.mentee_name
            for s in listed.subscribers
            if s.policy_from == "subscription" and s.status != "ended"
        ),
        "reading": reading_of(request, listed.mentor_timezone),
    }


def _page(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, "policy.html", context, status_code=status_code)


@dataclass(frozen=True)
class PolicyChange:
    """A policy typed in the page's form and posted, with the page as it stood; `policy`
    is None when the form says none (`context` then says what is wrong, by field)."""

    request: Request
    change: PageChange
    policy: PolicyBody | None
    context: dict[str, Any]

    def page(self, **more: Any) -> HTMLResponse:
        return _page(self.request, self.context | more, 200 if self.policy else 422)


async def policy_change(change: MentorChange, typed: TypedPolicy) -> PolicyChange:
    request = change.request
    context = await _standing(request, change.owners, change.caller, change.now)
    try:
        policy = policy_of(typed)
    except InvalidPolicy as invalid:
        return PolicyChange(
            request, change, None, context | {"form": typed, "errors": invalid.errors}
        )
    return PolicyChange(request, change, policy, context | {"form": PolicyForm.of(policy)})


PolicyChangeDep = Annotated[PolicyChange, Depends(policy_change)]


@router.get("/policy", summary="The mentor's own absence policy, with a form to change it (HTML)")
async def policy_page(
    request: Request, caller: PageMentor, owners: OwnersDep, now: Now
) -> HTMLResponse:
    return _page(request, await _standing(request, owners, caller, now))


@changes.post(
    "/policy/{action}",
    summary="`preview`: what the policy typed in the form would have done to the mentor's "
    "subscribers this cycle, beside what the policy in force did, changing nothing; "
    "`apply`: set it as the mentor's own policy from now on (the same policy again "
    "changes nothing) (HTML page)",
    responses=INVALID,
)
async def policy_post(action: Literal["preview", "apply"], posted: PolicyChangeDep) -> HTMLResponse:
    if posted.policy is None:
        return posted.page()
    act = _preview if action == "preview" else _apply
    return await act(posted, posted.policy)


async def _preview(posted: PolicyChange, policy: PolicyBody) -> HTMLResponse:
    change = posted.change
    proposal = policies.ProposalBody.model_validate(policy.model_dump(exclude_none=True))
    with page_unavailable("Preview unavailable"):
        preview = await policies.preview(change.owners, change.caller.user_id, proposal)
    return posted.page(
        preview=preview,
        totals=totals(preview.current, preview.proposed),
        changed=[s for s in preview.subscribers if s.changed],
        unchanged=[s for s in preview.subscribers if not s.changed],
        proposal=PolicyForm.of(policy),
        proposal_words=proposal_words(policy),
    )


async def _apply(posted: PolicyChange, policy: PolicyBody) -> HTMLResponse:
    """Sets `policy`, unless it is the one in force already."""
    change = posted.change
    before: SubscriptionPolicy = posted.context["current"].policy or SubscriptionPolicy()
    if before == SubscriptionPolicy.model_validate(policy.model_dump()):
        return posted.page(done="That is already your policy: nothing changed.")
    with page_unavailable("Your policy was not applied"):
        await policies.set_mentor_policy(change.owners, change.caller.user_id, policy, change.now)
    after = await _standing(change.request, change.owners, change.caller, change.now)
    return _page(change.request, after | {"done": applied_words(after["current"])})


router.include_router(changes)
