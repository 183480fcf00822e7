"""The messages the services exchange, and how exchanges and queues are named.

Every service imports its message types from here and nowhere else.
"""

from contracts.messages import (
    MESSAGE_TYPES,
    AttendanceMarked,
    BookingRef,
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
    Event,
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    Person,
    SessionJoined,
    Slot,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
    SweepTick,
    message_type_for,
)
from contracts.naming import Naming

__all__ = [
    "MESSAGE_TYPES",
    "AttendanceMarked",
    "BookingRef",
    "BookingUnattended",
    "BookingsCancelled",
    "BookingsScheduled",
    "Event",
    "MenteeReactivated",
    "MenteeReprobated",
    "MenteeWarned",
    "Naming",
    "Person",
    "SessionJoined",
    "Slot",
    "SubscriptionActivated",
    "SubscriptionEnded",
    "SubscriptionRenewed",
    "SweepTick",
    "message_type_for",
]
