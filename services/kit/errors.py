"""Errors every service raises or reports the same way."""

from __future__ import annotations

from pydantic import ValidationError


class SubscriptionNotKnownYet(Exception):
    """A message about a subscription whose activation has not arrived yet.

    Raised so that the message is retried (with backoff) until the activation,
    which travels on another queue, has been handled.
    """


class BookingNotKnownYet(Exception):
    """A message about a booking whose schedule has not arrived yet (it travels on
    another queue): retried with backoff like `SubscriptionNotKnownYet`."""


def describe_validation_error(error: ValidationError, *, skip_model: bool = False) -> str:
    """Every problem of a validation error on one line: `field.path: message; …`.

    `skip_model` drops the first location part, the model a broker message was
    validated into, which says nothing to the reader.
    """
    problems = []
    for problem in error.errors():
        location = problem["loc"][1:] if skip_model and len(problem["loc"]) > 1 else problem["loc"]
        problems.append(f"{'.'.join(str(p) for p in location)}: {problem['msg']}")
    return "; ".join(problems)
