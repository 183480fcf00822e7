"""`make token ROLE=mentor SUB=<uuid>`: print a development sign-in token.

The dashboard accepts it as the `session` cookie; the API as a Bearer token.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from uuid import UUID

from services.gateway.auth import DEV_TOKEN_LIFETIME, ROLES, issue_token
from services.kit.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=ROLES, default="mentor")
    parser.add_argument("--sub", type=UUID, required=True, help="the user id")
    args = parser.parse_args()
    expires_at = datetime.now(UTC) + DEV_TOKEN_LIFETIME
    print(issue_token(Settings().jwt_secret, args.sub, args.role, expires_at))


if __name__ == "__main__":
    main()
