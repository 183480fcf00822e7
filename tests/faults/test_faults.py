"""Faults in the middle of the lifecycle cascade (tests/faults/cascade.py): the end state
must be the one the cascade reaches without the fault.

Every consequence once (each subscription warned, reprobated and its future
bookings cancelled exactly once), every email delivered once (a crash of the
sender, or of its database, may send the one email in flight twice), every
work queue drained, every outbox sent, and nothing dead-lettered but the
message that has to be.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import aio_pika
import pytest

from services.kit.settings import Settings
from tests.faults.cascade import (
    DUPLICATES_PER_DATABASE_CRASH,
    DUPLICATES_PER_NOTIFICATIONS_CRASH,
    EMAILS_PER_SUBSCRIPTION,
    SUBSCRIPTIONS,
    Cascade,
    Figures,
    Progress,
)
from tests.support.faulty_smtp import FaultySMTPServer
from tests.support.nodes import PrivatePostgres, PrivateRabbitMQ
from tests.support.system import System

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def assert_once(cascade: Cascade, final: Progress, allowed: int) -> None:
    duplicated = final.copies - final.accepted
    assert duplicated <= allowed, (
        f"{duplicated} emails sent twice, at most {allowed} allowed: "
        f"{[m for m, n in cascade.smtp.copies(cascade.addresses).items() if n > 1]}"
    )


async def test_without_a_fault(cascade: Cascade, report: list[Figures]) -> None:
    """The control: the same cascade, nothing broken."""
    await cascade.tick()
    final = await cascade.converge()
    dead = await cascade.dead_lettered()
    assert dead == {}
    assert final.copies == final.accepted == cascade.expected_emails
    report.append(cascade.figures("no fault (control)", final, dead, allowed=0))


SUBSCRIPTIONS_QUARTER = SUBSCRIPTIONS // 4
EMAILS_QUARTER = SUBSCRIPTIONS * EMAILS_PER_SUBSCRIPTION // 4
SMTP_OUTAGE_SECONDS = 3.0

# When each consuming service is in the middle of its share of the cascade.
MID_CASCADE: dict[str, Callable[[Progress], bool]] = {
    # reprobations are arriving: booking is cancelling bookings
    "booking": lambda p: p.reprobated >= SUBSCRIPTIONS_QUARTER,
    # absences are arriving: attendance is warning and reprobating
    "attendance": lambda p: p.warned >= SUBSCRIPTIONS_QUARTER,
    # emails are going out
    "notifications": lambda p: p.accepted >= EMAILS_QUARTER,
}


@pytest.mark.parametrize("service", ["booking", "attendance", "notifications"])
async def test_a_consuming_service_killed_mid_cascade(
    service: str,
    cascade: Cascade,
    fault_system: System,
    fault_smtp: FaultySMTPServer,
    report: list[Figures],
) -> None:
    fault_smtp.delay = 0.02  # about 2.4 s of sending: time for a crash in the middle
    await cascade.tick()
    at_fault = await cascade.reach(MID_CASCADE[service])
    began = time.monotonic()
    process = fault_system.processes[service]
    process.kill()  # SIGKILL, by the pid this test started
    process.wait()
    fault_system.start_service(service)
    await fault_system.wait_ready()
    fault_seconds = time.monotonic() - began

    final = await cascade.converge()
    dead = await cascade.dead_lettered()
    assert dead == {}
    allowed = DUPLICATES_PER_NOTIFICATIONS_CRASH if service == "notifications" else 0
    assert_once(cascade, final, allowed)
    report.append(
        cascade.figures(
            f"SIGKILL {service}",
            final,
            dead,
            allowed=allowed,
            at_fault=at_fault,
            fault_seconds=fault_seconds,
        )
    )


async def test_the_broker_node_killed_and_restarted_mid_cascade(
    cascade: Cascade,
    rabbitmq: PrivateRabbitMQ,
    fault_smtp: FaultySMTPServer,
    report: list[Figures],
) -> None:
    fault_smtp.delay = 0.02
    await cascade.tick()
    at_fault = await cascade.reach(lambda p: p.warned >= SUBSCRIPTIONS_QUARTER)
    began = time.monotonic()
    await asyncio.to_thread(rabbitmq.restart)  # SIGKILL of the node's VM, then start again
    fault_seconds = time.monotonic() - began

    # Usually 14 s. The node is killed a second or so after the services are up: when
    # they had just created their quorum queues and did not wait for the node to record
    # them (`QUORUM_REGISTRY_SECONDS`), one of them came back without a leader for good,
    # its consumer waiting 65 s on basic.consume and closed with 541 over and over
    # (docs/operations.md, "A quorum queue without a leader").
    final = await cascade.converge(within=120)
    dead = await cascade.dead_lettered()
    assert dead == {}
    assert_once(cascade, final, 0)
    report.append(
        cascade.figures(
            "broker node SIGKILL + restart",
            final,
            dead,
            allowed=0,
            at_fault=at_fault,
            fault_seconds=fault_seconds,
        )
    )


# While attendance and booking decide (reprobations on their way to booking), and
# while the emails go out (the sender's window between acceptance and record).
DATABASE_MOMENTS: dict[str, Callable[[Progress], bool]] = {
    "deciding": lambda p: p.reprobated >= SUBSCRIPTIONS_QUARTER,
    "emailing": lambda p: p.accepted >= EMAILS_QUARTER,
}


@pytest.mark.parametrize("moment", list(DATABASE_MOMENTS))
async def test_postgresql_restarted_immediately_mid_cascade(
    moment: str,
    cascade: Cascade,
    postgres: PrivatePostgres,
    fault_smtp: FaultySMTPServer,
    report: list[Figures],
) -> None:
    fault_smtp.delay = 0.02
    await cascade.tick()
    at_fault = await cascade.reach(DATABASE_MOMENTS[moment])
    began = time.monotonic()
    await asyncio.to_thread(postgres.restart_immediately)
    fault_seconds = time.monotonic() - began

    final = await cascade.converge(within=120)
    dead = await cascade.dead_lettered()
    assert dead == {}
    assert_once(cascade, final, DUPLICATES_PER_DATABASE_CRASH)
    report.append(
        cascade.figures(
            f"PostgreSQL restart -m immediate while {moment}",
            final,
            dead,
            allowed=DUPLICATES_PER_DATABASE_CRASH,
            at_fault=at_fault,
            fault_seconds=fault_seconds,
        )
    )


POISONS = {
    b"{not json": "body is not JSON",
    json.dumps({"event_id": "not-a-uuid", "booking_id": 42}).encode(): "invalid message",
}


async def publish_raw(settings: Settings, routing_key: str, body: bytes) -> None:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.naming.exchange)
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )


async def test_poison_messages_in_the_middle_of_a_busy_queue(
    cascade: Cascade, fault_settings: Settings, report: list[Figures]
) -> None:
    await cascade.tick()
    # booking.unattended is the busiest queue (two per subscription): poison it mid-stream.
    at_fault = await cascade.reach(lambda p: p.warned >= SUBSCRIPTIONS_QUARTER)
    for body in POISONS:
        await publish_raw(fault_settings, "booking.unattended", body)

    final = await cascade.converge()
    queue = fault_settings.naming.dead_letter_queue("attendance", "booking.unattended")
    dead = await cascade.dead_lettered()
    assert dead == {queue: len(POISONS)}
    held = dict((body, reason) for reason, body in await cascade.dead_letter_reasons(queue))
    assert held.keys() == POISONS.keys()
    for body, expected in POISONS.items():
        assert expected in held[body], held[body]
    assert_once(cascade, final, 0)
    report.append(cascade.figures("poison messages", final, dead, allowed=0, at_fault=at_fault))


async def test_smtp_answering_4xx_for_a_while(
    cascade: Cascade, fault_smtp: FaultySMTPServer, report: list[Figures]
) -> None:
    fault_smtp.delay = 0.01
    await cascade.tick()
    at_fault = await cascade.reach(lambda p: p.accepted >= EMAILS_QUARTER)
    fault_smtp.fail_with = "451 4.3.0 Mailbox busy, try again later"
    await asyncio.sleep(SMTP_OUTAGE_SECONDS)
    refused = fault_smtp.attempts - len(fault_smtp.messages)
    fault_smtp.fail_with = None

    final = await cascade.converge(within=120)
    assert refused > 0  # the sender did try while the server refused
    dead = await cascade.dead_lettered()
    assert dead == {}
    assert_once(cascade, final, 0)
    report.append(
        cascade.figures(
            f"SMTP 451 for {SMTP_OUTAGE_SECONDS:.0f}s ({refused} refused)",
            final,
            dead,
            allowed=0,
            at_fault=at_fault,
            fault_seconds=SMTP_OUTAGE_SECONDS,
        )
    )


async def test_smtp_5xx_for_one_recipient(
    cascade: Cascade,
    fault_settings: Settings,
    fault_smtp: FaultySMTPServer,
    report: list[Figures],
) -> None:
    unknown = cascade.pairs[0][1].person.email  # a mentor: warning and reprobation to them
    fault_smtp.refuse[unknown] = f"550 5.1.1 <{unknown}>: mailbox unavailable"
    await cascade.tick()

    final = await cascade.converge(undeliverable=2)
    naming = fault_settings.naming
    queues = [
        naming.dead_letter_queue("notifications", k) for k in ("mentee.warned", "mentee.reprobated")
    ]
    dead = await cascade.dead_lettered()
    assert dead == {q: 1 for q in queues}
    for queue in queues:
        [(reason, body)] = await cascade.dead_letter_reasons(queue)
        assert "550" in reason and unknown in reason, reason
        assert json.loads(body)["mentor_id"] == str(cascade.pairs[0][1].person.id)
    assert sorted(fault_smtp.refused) == [unknown, unknown]
    assert unknown not in {r for e in fault_smtp.envelopes for r in e}
    assert_once(cascade, final, 0)
    report.append(
        cascade.figures(
            "SMTP 550 for one recipient",
            final,
            dead,
            allowed=0,
            expected=cascade.expected_emails - 2,
        )
    )
