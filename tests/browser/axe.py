"""axe-core (npm, `make install`) in the browser tests: the rules it breaks on a page, at or
above an impact, said so that a failure names what to fix without opening a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.async_api import Page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

Impact = Literal["minor", "moderate", "serious", "critical"]
IMPACTS: tuple[Impact, ...] = ("minor", "moderate", "serious", "critical")


def _ranks(impact: str | None, at_least: Impact) -> bool:
    return impact in IMPACTS and IMPACTS.index(impact) >= IMPACTS.index(at_least)  # type: ignore[arg-type]


async def violations(page: Page, at_least: Impact = "serious") -> list[dict[str, Any]]:
    """axe's violations on the page as it is now whose impact is `at_least` or worse,
    each with only its nodes of that impact; skips the test without axe-core."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed: `make install` runs npm ci")
    if not await page.evaluate("typeof window.axe === 'object'"):
        # Evaluated rather than added as a <script>: the dashboard's
        # Content-Security-Policy refuses inline scripts, and rightly so.
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    results = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    found = []
    for violation in results["violations"]:
        nodes = [n for n in violation["nodes"] if _ranks(n.get("impact"), at_least)]
        if nodes:
            found.append({**violation, "nodes": nodes})
    return found


def described(found: list[dict[str, Any]], where: str) -> str:
    """One paragraph per broken rule: its id, impact and help, then each offending
    node's selector with axe's summary of how to fix it."""
    lines = [f"{len(found)} axe-core rule(s) broken on {where}:"]
    for v in found:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            selector = " ".join(map(str, node["target"]))
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {selector}: {summary}")
    return "\n".join(lines)


async def assert_accessible(page: Page, at_least: Impact = "serious") -> None:
    """Fail, naming every rule and node, if axe finds violations `at_least` that bad."""
    found = await violations(page, at_least)
    assert not found, described(found, page.url)
