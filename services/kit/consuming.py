"""An event queue consumed in batches, straight from aio-pika.

Each queue has a channel of its own (with the queue's prefetch) on the service's
consuming connection. Deliveries are put aside as they arrive; one task per queue
takes what has arrived, up to `max_size`, decodes it, applies it in one
transaction and acknowledges it: with one `basic.ack` (`multiple`) when the batch
is exactly the channel's oldest unsettled deliveries, else one per message.

Why not FastStream's subscriber, as before: its per-message path (context,
middlewares, dependency injection, one acknowledgement each) was three tenths of
attendance's CPU during the sweep. The guarantees stay those docs/design.md states
("Delivery guarantees"):

- acknowledged only after the transaction that applied it committed (a crash
  before that redelivers the batch; the inbox drops what was applied);
- a body that is not JSON, or not the contract's shape, is dead-lettered with the
  reason at once and acknowledged;
- a batch that fails is applied again one message at a time (`apply_or_split`);
  a message that fails alone is requeued after a backoff (without holding up the
  queue), and on its last allowed delivery dead-lettered with its error.

A delivery whose channel closed (the broker went away) is dropped unapplied: the
broker requeued it when the channel closed, and the reopened channel gets it again.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aio_pika
import aiormq
from pydantic import BaseModel, ValidationError

from services.kit import metrics
from services.kit.batching import Apply, apply_or_split
from services.kit.errors import describe_validation_error
from services.kit.logs import get_logger
from services.kit.messaging import (
    InvalidMessage,
    Messaging,
    UndecodableBody,
    dead_letter_reason,
    delivery_count,
    is_poison,
    retry_delay,
)

M = TypeVar("M", bound=BaseModel)

log = get_logger(__name__)

_CLOSE_SECONDS = 5.0


@dataclass(eq=False)
class _Delivery:
    raw: aio_pika.abc.AbstractIncomingMessage
    # The channel it came on, as it was then: after a reconnection the robust
    # channel has another underneath, and this one says the delivery died with it.
    channel: aiormq.abc.AbstractChannel
    tag: int

    @property
    def dead(self) -> bool:
        return self.channel.is_closed


@dataclass
class _Unsettled:
    """The delivery tags handed to us on one underlying channel and not yet settled."""

    channel: aiormq.abc.AbstractChannel | None = None
    tags: set[int] = field(default_factory=set)


class QueueConsumer(Generic[M]):
    def __init__(
        self,
        messaging: Messaging,
        routing_key: str,
        model: type[M],
        apply: Apply[M],
        *,
        max_size: int,
        gather_seconds: float = 0.0,
    ) -> None:
        self.messaging = messaging
        self.queue = messaging.queue(routing_key)  # as `documents_consuming` names it
        self.queue_name = self.queue.name
        self.routing_key = routing_key
        self.model = model
        self._apply = apply
        self._max_size = max(1, max_size)
        self._gather_seconds = gather_seconds
        self._arrived: deque[_Delivery] = deque()
        self._wakeup = asyncio.Event()
        self._unsettled = _Unsettled()
        self._retrying: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._declared: aio_pika.abc.AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, connection: aio_pika.abc.AbstractConnection) -> None:
        settings = self.messaging.settings
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=settings.prefetch_count)
        queue = await channel.declare_queue(
            self.queue_name, durable=True, arguments=self.queue.arguments
        )
        await queue.bind(self.messaging.naming.exchange, self.routing_key)
        self._channel, self._declared = channel, queue
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"consume {self.queue_name}")
        self._consumer_tag = await queue.consume(self._arrive)

    async def stop(self, grace_seconds: float) -> None:
        """Take no more deliveries, finish the batch in hand (within `grace_seconds`),
        and close the channel: what was not applied returns to the queue."""
        self._stopping = True
        self._wakeup.set()
        if self._declared is not None and self._consumer_tag is not None:
            try:
                # Bounded: with the broker away, a robust channel would wait for it.
                cancel = self._declared.cancel(self._consumer_tag)
                await asyncio.wait_for(cancel, _CLOSE_SECONDS)
            except Exception as error:  # the channel is gone already: nothing to cancel
                log.debug("consumer cancel failed", queue=self.queue_name, error=repr(error))
        if self._task is not None:
            _, pending = await asyncio.wait({self._task}, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for retry in list(self._retrying):
            retry.cancel()
        await asyncio.gather(*self._retrying, return_exceptions=True)
        if self._channel is not None:
            channel, self._channel = self._channel, None
            try:
                await asyncio.wait_for(channel.close(), _CLOSE_SECONDS)
            except Exception as error:
                log.debug("channel close failed", queue=self.queue_name, error=repr(error))
        self._arrived.clear()
        self._unsettled = _Unsettled()

    async def _arrive(self, raw: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            channel = raw.channel
        except aio_pika.exceptions.ChannelInvalidStateError:
            return  # closed already; the broker requeued it
        if channel is not self._unsettled.channel:
            self._unsettled = _Unsettled(channel)
        tag = raw.delivery_tag or 0
        self._unsettled.tags.add(tag)
        self._arrived.append(_Delivery(raw, channel, tag))
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping:
            if not self._arrived:
                self._wakeup.clear()
                await self._wakeup.wait()
                if self._gather_seconds:
                    # Off the latency path: a moment more gathers a batch out of
                    # a trickle, one transaction for many.
                    await asyncio.sleep(self._gather_seconds)
                continue
            count = min(self._max_size, len(self._arrived))
            batch = [self._arrived.popleft() for _ in range(count)]
            try:
                await self._handle(batch)
            except Exception:
                # Not expected (every failure is settled in `_handle`); hand the
                # batch back to the broker rather than hold it until a restart.
                log.exception("batch not handled, requeued", queue=self.queue_name)
                for delivery in batch:
                    await self._settle(delivery, requeue=True)

    async def _handle(self, batch: list[_Delivery]) -> None:
        decoded: list[tuple[_Delivery, M]] = []
        for delivery in batch:
            if delivery.dead:
                self._forget(delivery)
                continue
            try:
                decoded.append((delivery, self._decode(delivery.raw.body)))
            except (UndecodableBody, InvalidMessage) as error:
                await self._failed(delivery, error)
        if not decoded:
            return
        errors = await apply_or_split([message for _, message in decoded], self._apply)
        outcomes = [(d, failure) for (d, _), failure in zip(decoded, errors, strict=True)]
        await self._ack([d for d, failure in outcomes if failure is None])
        for delivery, failure in outcomes:
            if failure is not None:
                await self._failed(delivery, failure)

    def _decode(self, body: bytes) -> M:
        try:
            data: Any = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise UndecodableBody(f"{type(error).__name__}: {error}") from error
        try:
            return self.model.model_validate(data)
        except ValidationError as error:
            raise InvalidMessage(describe_validation_error(error)) from error

    async def _ack(self, deliveries: list[_Delivery]) -> None:
        """Acknowledge applied deliveries: with one frame when nothing older is still
        unsettled on their channel (a message waiting for its retry, say)."""
        live = [d for d in deliveries if not d.dead]
        for delivery in deliveries:
            if delivery.dead:
                self._forget(delivery)
        if not live:
            return
        newest = max(live, key=lambda d: d.tag)
        tags = {d.tag for d in live}
        unsettled = self._unsettled
        if (
            len(live) > 1
            and all(d.channel is unsettled.channel for d in live)
            and all(tag in tags for tag in unsettled.tags if tag <= newest.tag)
        ):
            try:
                await newest.raw.ack(multiple=True)
            except Exception as error:
                self._lost(newest, error)
            for delivery in live:
                self._forget(delivery)
            return
        for delivery in live:
            await self._settle(delivery)

    async def _failed(self, delivery: _Delivery, error: Exception) -> None:
        raw = delivery.raw
        deliveries = delivery_count(raw) + 1
        metrics.MESSAGES_FAILED.labels(self.messaging.service, self.routing_key).inc()
        limit = self.messaging.settings.delivery_limit
        reason = dead_letter_reason(error, deliveries, limit)
        # A handler's failure carries its traceback; a poison message's reason says it all.
        trace = None if is_poison(error) else error
        if reason is None:
            log.warning(
                "handler failed, will retry",
                queue=self.queue_name,
                routing_key=self.routing_key,
                event_id=raw.message_id,
                delivery=deliveries,
                error=f"{type(error).__name__}: {error}"[:500],
                exc_info=trace,
            )
            retry = asyncio.create_task(self._requeue_later(delivery, retry_delay(deliveries)))
            self._retrying.add(retry)
            retry.add_done_callback(self._retrying.discard)
            return
        try:
            await self.messaging.dead_letter(self.queue_name, raw, reason)
        except Exception:
            log.exception("dead-lettering failed, requeued", queue=self.queue_name)
            await self._settle(delivery, requeue=True)
            return
        metrics.MESSAGES_DEAD_LETTERED.labels(self.messaging.service, self.routing_key).inc()
        log.error(
            "message dead-lettered",
            queue=self.queue_name,
            message_id=raw.message_id,
            reason=reason,
            exc_info=trace,
        )
        await self._settle(delivery)

    async def _requeue_later(self, delivery: _Delivery, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._settle(delivery, requeue=True)

    async def _settle(self, delivery: _Delivery, *, requeue: bool = False) -> None:
        try:
            if delivery.dead:
                return
            if requeue:
                await delivery.raw.nack(requeue=True)
            else:
                await delivery.raw.ack()
        except Exception as error:
            self._lost(delivery, error)
        finally:
            self._forget(delivery)

    def _forget(self, delivery: _Delivery) -> None:
        if delivery.channel is self._unsettled.channel:
            self._unsettled.tags.discard(delivery.tag)

    def _lost(self, delivery: _Delivery, error: Exception) -> None:
        # The channel closed between the commit and the acknowledgement: the broker
        # delivers the message again, and the inbox finds it applied.
        log.warning(
            "acknowledgement lost with its channel; the redelivery will be a duplicate",
            queue=self.queue_name,
            event_id=delivery.raw.message_id,
            error=repr(error),
        )
