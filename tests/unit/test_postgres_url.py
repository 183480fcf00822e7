"""POSTGRES_URL with one host (as before) or several (a primary and its standbys)."""

from __future__ import annotations

import pytest

from services.kit.settings import Settings


@pytest.mark.parametrize(
    ("url", "dsn"),
    [
        ("postgresql://postgres@127.0.0.1:5432", "postgresql://postgres@127.0.0.1:5432/db"),
        ("postgresql://postgres@127.0.0.1:5432/", "postgresql://postgres@127.0.0.1:5432/db"),
        ("postgresql://u:secret@h:1/other", "postgresql://u:secret@h:1/db"),
        ("postgresql://u@h:1/?sslmode=disable", "postgresql://u@h:1/db?sslmode=disable"),
        (
            "postgresql://postgres@10.0.0.1:5432,10.0.0.2:5432",
            "postgresql://postgres@10.0.0.1:5432,10.0.0.2:5432/db?target_session_attrs=read-write",
        ),
        (
            "postgresql://postgres@a:1,b:2/?target_session_attrs=primary",
            "postgresql://postgres@a:1,b:2/db?target_session_attrs=primary",
        ),
    ],
)
def test_each_database_keeps_the_hosts_and_parameters(url: str, dsn: str) -> None:
    assert Settings(postgres_url=url).postgres_dsn("db") == dsn


def test_database_url_shows_the_same_database() -> None:
    settings = Settings(postgres_url="postgresql://postgres@127.0.0.1:5432")
    assert settings.database_url("booking") == (
        f"postgresql+asyncpg://postgres@127.0.0.1:5432/{settings.naming.database('booking')}"
    )
