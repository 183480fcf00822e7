"""Rendering emails from the Jinja2 templates in `templates/` (editable without code)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifications.domain import Kind, Recipient

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Templates:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=False,
            keep_trailing_newline=True,
        )

    def render(self, kind: Kind, recipient: Recipient, values: dict[str, Any]) -> Rendered:
        context = {
            **values,
            "recipient_name": recipient.name,
            "to_mentor": recipient.to_mentor,
        }
        subject = self.env.get_template(f"{kind}.subject.txt").render(context).strip()
        return Rendered(
            subject=subject,
            text=self.env.get_template(f"{kind}.txt").render(context),
            html=self.env.get_template(f"{kind}.html").render({**context, "subject": subject}),
        )
