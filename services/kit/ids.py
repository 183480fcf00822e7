"""Ids derived from facts, so that replaying a message derives the same ids."""

from __future__ import annotations

import uuid
from uuid import UUID


def derived_id(namespace: UUID, *parts: object) -> UUID:
    """A UUID that is a function of `parts` within `namespace` (UUID version 5)."""
    return uuid.uuid5(namespace, "|".join(str(p) for p in parts))
