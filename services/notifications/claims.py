"""The emails a notifications process has claimed for its sending workers.

A claim is a session advisory lock, and every claim of the process is held on
one database connection, however many workers send: with one connection per
worker, 16 workers and their listeners took 32 of PostgreSQL's connections.
Workers send the claimed emails one at a time; an email's claim is released
once its outcome is recorded, with the next claim. The connection is the
claims' own, outside the pool, each statement committing on its own: three
statements to claim, without a transaction around them. A crash drops the
connection and every claim with it: the emails in flight are
due again at once, and those claimed but not yet taken were never sent.

A claim walks the queued emails in the order they are due, from where the live part
of the index starts as the last full batch showed it (less `FLOOR_MARGIN`, for a
transaction that queued emails dated by its start and committed later): the entries
of emails sent since stay in the index until a vacuum, and walking them all made each
claim longer as the table grew. A claim that comes back short, or the first after
`FLOOR_SECONDS`, walks from the oldest again: an email behind the floor (its claim
died with another replica, say) waits that long at most.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import asyncpg

from services.kit.database import Database
from services.notifications import store
from services.notifications.domain import Email

FLOOR_MARGIN = timedelta(seconds=5)
FLOOR_SECONDS = 5.0


class Claims:
    def __init__(self, db: Database, *, batch: int) -> None:
        self._db = db
        self._batch = batch
        self._holder: asyncpg.Connection | None = None
        self._session = 0  # which holder connection: claims die with theirs
        self._held: dict[str, int] = {}  # claimed, outcome not recorded: by session
        self._finished: list[str] = []  # recorded: released with the next claim
        self._floor: datetime | None = None  # where the last full walk found due emails
        self._floor_since = 0.0

    @property
    def session(self) -> int:
        """Changes when the claims are lost: emails claimed before are not to be sent."""
        return self._session

    async def claim(self, skipping: Iterable[str] = ()) -> list[Email]:
        """Claim up to a batch of due emails, none of `skipping`; report each one's
        outcome, once it is recorded, with `finished`."""
        try:
            if self._holder is None:
                self._holder = await asyncpg.connect(
                    self._db.settings.postgres_dsn(self._db.name),
                    server_settings=self._db.settings.postgres_server_settings(),
                )
            # Emails still in flight stay claimed (a session lock is taken again by
            # its own session), and one whose claim died with its session is still
            # not to be claimed again by this process. Those finished while this claim
            # is on its way are released by the next: emptied after the await, they
            # were dropped unreleased, a lock held for the connection's life each,
            # until PostgreSQL's lock table was full (at 100,000 subscriptions).
            releasing, self._finished = self._finished, []
            claimed = await store.claim_due_emails(
                self._holder,
                self._batch,
                held=sorted({*self._held, *skipping}),
                releasing=releasing,
                due_from=self._walk_from(),
            )
        except BaseException:
            self.lose()
            raise
        self._moved_floor(claimed)
        for email in claimed.emails:
            self._held[email.message_id] = self._session
        return claimed.emails

    def _walk_from(self) -> datetime | None:
        if self._floor is None or time.monotonic() - self._floor_since > FLOOR_SECONDS:
            self._floor = None
        return self._floor

    def _moved_floor(self, claimed: store.ClaimedEmails) -> None:
        if len(claimed.emails) < self._batch or claimed.oldest_due is None:
            self._floor = None  # the next claim walks from the oldest
            return
        if self._floor is None:
            self._floor_since = time.monotonic()
        floor = claimed.oldest_due - FLOOR_MARGIN
        self._floor = floor if self._floor is None else max(self._floor, floor)

    def finished(self, email: Email) -> None:
        if self._held.pop(email.message_id, None) == self._session:
            self._finished.append(email.message_id)

    def lose(self) -> None:
        """Give up every claim (after a failure: the connection may be gone with them).
        Emails in flight stay with their workers; the others are due again at once."""
        self._finished = []
        self._floor = None  # the emails whose claims go with it are due again
        self._session += 1
        holder, self._holder = self._holder, None
        if holder is not None:
            holder.terminate()  # its locks go with the session

    async def close(self) -> None:
        """Release every claim and the connection (when the process stops)."""
        holder, self._holder = self._holder, None
        if holder is None:
            return
        try:
            await store.release_claims(holder)
            await holder.close()
        finally:
            holder.terminate()  # closed, or in doubt: its locks go with the session
