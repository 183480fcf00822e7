"""Write (or, with --check, verify) the AsyncAPI document of every FastStream service.

    python scripts/asyncapi.py          # refresh docs/asyncapi/<service>.json
    python scripts/asyncapi.py --check  # exit 1 when a committed document is stale

Generated from the services' own subscribers and message models, in the
default namespace, so the documents describe queues as deployed by default.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faststream.specification import AsyncAPI  # noqa: E402

from services.kit.settings import Settings  # noqa: E402

SERVICES = ("booking", "attendance", "notifications", "scheduler", "gateway")
DOCS = ROOT / "docs" / "asyncapi"


def document(service: str) -> str:
    module = importlib.import_module(f"services.{service}.app")
    settings = Settings(mentorship_namespace="mentorship")
    if service == "gateway":  # FastAPI at the edge; its broker only publishes and asks
        broker = module.create_app(settings).state.messaging.documentation
    else:
        broker = module.create_runtime(settings).messaging.documentation
    spec: Any = AsyncAPI(
        broker,
        title=f"mentorship-attendance {service}",
        version="0.1.0",
        description=(module.__doc__ or "").strip() or None,
    ).to_specification()
    return json.dumps(spec.to_jsonable(), indent=2, sort_keys=True) + "\n"


def stale() -> list[str]:
    return [
        s
        for s in SERVICES
        if not (DOCS / f"{s}.json").exists() or (DOCS / f"{s}.json").read_text() != document(s)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        outdated = stale()
        if outdated:
            print(f"stale AsyncAPI documents: {', '.join(outdated)}; run `make asyncapi`")
            return 1
        return 0
    DOCS.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        (DOCS / f"{service}.json").write_text(document(service))
        print(f"wrote docs/asyncapi/{service}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
