"""The messages the services exchange, and how exchanges and queues are named.

Every service imports its message types from here and nowhere else.
"""

from contracts.messages import (
    MENTOR_MARK_STATUSES,
    MESSAGE_TYPES,
    AttendanceMarked,
    BookingCancelled,
    BookingRef,
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
    Event,
    MarkStatus,
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    MentorMissed,
    Person,
    SessionJoined,
    Slot,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
    SweepTick,
    message_type_for,
    status_of,
)
from contracts.naming import Naming

__all__ = [
    "MENTOR_MARK_STATUSES",
    "MESSAGE_TYPES",
    "AttendanceMarked",
    "BookingCancelled",
    "BookingRef",
    "BookingUnattended",
    "BookingsCancelled",
    "BookingsScheduled",
    "Event",
    "MarkStatus",
    "MenteeReactivated",
    "MenteeReprobated",
    "MenteeWarned",
    "MentorMissed",
    "Naming",
    "Person",
    "SessionJoined",
    "Slot",
    "SubscriptionActivated",
    "SubscriptionEnded",
    "SubscriptionRenewed",
    "SweepTick",
    "message_type_for",
    "status_of",
]
