"""A request a service does not carry out, and why: a pure value its domain returns and
its handler turns into the reply's error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RefusalCode = Literal["not_found", "forbidden", "conflict", "invalid"]


@dataclass(frozen=True)
class Refusal:
    """A request that is not carried out, and why (the reply's error)."""

    code: RefusalCode
    detail: str
