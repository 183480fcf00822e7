"""Asking the service that owns the data (RabbitMQ request/reply) and publishing events.

The gateway has no database and so no outbox: it publishes with publisher
confirms and mandatory routing, and answers 503 when the broker does not
take the message, so the caller knows to retry.
"""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from fastapi import HTTPException, status
from pydantic import ValidationError

from contracts import Event
from contracts.rpc import BookingFound, FindBooking, Reply, Request, RpcError
from services.gateway.directory import BookingDirectory
from services.gateway.rpc import RpcClient
from services.kit.logs import get_logger
from services.kit.messaging import Messaging

R = TypeVar("R", bound=Reply)

log = get_logger(__name__)

_STATUS_FOR = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "conflict": status.HTTP_409_CONFLICT,
    "invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
}


class OwnerUnavailable(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(status.HTTP_503_SERVICE_UNAVAILABLE, detail=detail)


class Owners:
    def __init__(
        self, messaging: Messaging, timeout: float, directory: BookingDirectory | None = None
    ) -> None:
        self.messaging = messaging
        self.timeout = timeout
        self.rpc = RpcClient(messaging, timeout)
        self.directory = BookingDirectory(capacity=0) if directory is None else directory

    async def find_booking(self, booking_id: UUID) -> BookingFound:
        """Who owns a booking and whether it is cancelled: from the directory when the
        gateway heard of it, else from booking (whose answer is kept)."""
        found = self.directory.found(booking_id)
        if found is None:
            found = await self.ask(FindBooking(booking_id=booking_id), BookingFound)
            self.directory.answered(found)
        return found

    async def ask(self, request: Request, reply_type: type[R]) -> R:
        """Send `request` to its owner and return the reply; HTTP errors for error replies."""
        reply = await self.ask_raw(request, reply_type)
        if reply.error is not None:
            raise error_response(reply.error)
        return reply

    async def ask_raw(self, request: Request, reply_type: type[R]) -> R:
        """Like `ask`, but an error reply is returned rather than raised."""
        try:
            body = await self.rpc.request(request.model_dump_json().encode(), request.routing_key)
        except TimeoutError as error:
            raise OwnerUnavailable(
                f"the {request.owner} service did not answer within {self.timeout:g} s; "
                "try again shortly"
            ) from error
        except Exception as error:
            log.warning("request failed", routing_key=request.routing_key, error=repr(error))
            raise OwnerUnavailable(f"the {request.owner} service cannot be reached") from error
        try:
            return reply_type.model_validate_json(body)
        except ValidationError as error:
            log.error("malformed reply", routing_key=request.routing_key, error=str(error))
            raise OwnerUnavailable(f"the {request.owner} service sent a malformed reply") from error

    async def publish(self, event: Event) -> None:
        """Publish `event`; 503 unless the broker confirmed and routed it."""
        try:
            await self.messaging.publish(event.routing_key, event.body(), event.event_id)
        except Exception as error:
            log.warning("publish failed", routing_key=event.routing_key, error=repr(error))
            raise OwnerUnavailable("the message broker did not accept the message") from error


def error_response(error: RpcError) -> HTTPException:
    return HTTPException(_STATUS_FOR[error.code], detail=error.detail)
