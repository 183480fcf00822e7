"""Rendering emails from the Jinja2 templates in `templates/` (editable without code)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from services.notifications import calendar, domain
from services.notifications.calendar import Party
from services.notifications.domain import (
    Contacts,
    Email,
    EmailSubject,
    Kind,
    Recipient,
    Session,
)

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Templates:
    def __init__(
        self, directory: Path = TEMPLATES, gateway_url: str = "http://127.0.0.1:8000"
    ) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=False,
            keep_trailing_newline=True,
            # Read once: checking every template file's mtime on each render was a
            # stat() per email part. An edited template is read on restart.
            auto_reload=False,
        )
        # Links in emails lead to the dashboard, where the mentor acts.
        self.env.globals["gateway_url"] = gateway_url.rstrip("/")
        self._loaded: dict[str, Template] = {}

    def _template(self, name: str) -> Template:
        """The template, loaded once, its globals flattened into a plain dict: Jinja's
        ChainMap of them was iterated twice per render, two fifths of composing an email."""
        template = self._loaded.get(name)
        if template is None:
            template = self.env.get_template(name)
            template.globals = dict(template.globals)
            self._loaded[name] = template
        return template

    def render(self, kind: Kind, recipient: Recipient, values: dict[str, Any]) -> Rendered:
        context = {
            **values,
            "recipient_name": recipient.name,
            "to_mentor": recipient.to_mentor,
        }
        subject = self._template(f"{kind}.subject.txt").render(context).strip()
        return Rendered(
            subject=subject,
            text=self._template(f"{kind}.txt").render(context),
            html=self._template(f"{kind}.html").render({**context, "subject": subject}),
        )

    def compose(
        self,
        event: EmailSubject,
        contacts: Contacts,
        sessions: Sequence[Session] = (),
        feed_token: str | None = None,
    ) -> list[Email]:
        """Every email `event` calls for, rendered and addressed, with its calendar part
        (`sessions`: those a `removed` email withdraws, or the missed one a make-up makes
        up for; `feed_token`: the mentee's calendar feed, which a schedule links)."""
        kind = domain.kind_of(event)
        # The mentor may read times in another zone than the mentee: values per zone.
        values: dict[domain.Reading, dict[str, Any]] = {}
        ics = _invitation(event, contacts, sessions)
        body = json.loads(event.model_dump_json())
        emails = []
        for recipient in domain.recipients(kind, contacts):
            reader = domain.reading(contacts, recipient.to_mentor)
            if reader not in values:
                values[reader] = domain.template_values(
                    event, contacts, sessions, feed_token, reader
                )
            rendered = self.render(kind, recipient, values[reader])
            emails.append(
                Email(
                    message_id=domain.message_id(domain.email_key(event), recipient.email),
                    event_id=event.event_id,
                    routing_key=event.routing_key,
                    event_body=body,
                    recipient=recipient.email,
                    cc=recipient.cc,
                    subject=rendered.subject,
                    text_body=rendered.text,
                    html_body=rendered.html,
                    calendar=ics,
                )
            )
        return emails


def _invitation(event: EmailSubject, contacts: Contacts, sessions: Sequence[Session]) -> str | None:
    """The same calendar part for every recipient: the mentor invites the mentee."""
    invited = domain.invitation_of(event, sessions)
    if invited is None:
        return None
    method, invited_sessions = invited
    return calendar.invitation(
        method,
        invited_sessions,
        organizer=Party(contacts.mentor_name, contacts.mentor_email),
        attendee=Party(contacts.mentee_name, contacts.mentee_email),
        summary=calendar.summary(contacts),
        stamp=event.occurred_at,
    )
