"""The README and docs/ hold together: every relative link reaches a file, every `#anchor`
a heading of its target (GitHub's slugs), and the README stays short enough to read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_CHARACTERS = 12_500

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"`+[^`]*`+")
# [text](target) and ![alt](target), the text possibly holding one level of brackets,
# the target possibly followed by a title.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text of its links and code, lowercased, with
    what is neither a letter, a digit, `_`, `-` nor a space dropped and spaces as `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a document's headings; a repeated one gets `-1`, `-2`, ..."""
    found: set[str] = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            base = anchor = slug(match.group(1))
            n = 0
            while anchor in found:
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def links(path: Path) -> list[str]:
    """The targets of a document's links and images, outside code."""
    return [
        target
        for line in prose_lines(path.read_text(encoding="utf-8"))
        for target in LINK.findall(INLINE_CODE.sub("", line))
    ]


def broken_links(path: Path) -> list[str]:
    """Each relative link of `path` whose file or anchor does not exist, in words."""
    broken = []
    for target in links(path):
        if SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{path.name}: {target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{path.name}: {target} (no heading #{anchor} in {resolved.name})")
    return broken


def test_every_relative_link_of_the_readme_and_docs_resolves() -> None:
    assert len(DOCUMENTS) > 1
    checked = [target for document in DOCUMENTS for target in links(document)]
    assert any("#" in target for target in checked)  # anchors are checked, not only files
    broken = [problem for document in DOCUMENTS for problem in broken_links(document)]
    assert not broken, "\n".join(broken)


def test_the_readme_stays_short() -> None:
    size = len(README.read_text(encoding="utf-8"))
    assert size < README_MAX_CHARACTERS, (
        f"README.md has {size} characters (it must stay under {README_MAX_CHARACTERS}): "
        "move the details to docs/ and link them"
    )


def test_a_missing_file_or_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## The policy's settings\n## Notes\n## Notes\n")
    (tmp_path / "picture.png").write_bytes(b"")
    document = tmp_path / "doc.md"
    document.write_text(
        "# Doc\n\n## Here\n\n"
        "[fine](other.md#the-policys-settings) [second](other.md#notes-1) ![p](picture.png)\n"
        "[local](#here) [web](https://example.com/x#y) `[code](nowhere.md)`\n"
        "[gone](missing.md) ![gone too](missing.png)\n"
        "[no heading](other.md#settings) [nor here](#there)\n"
        "```\n[fenced](nowhere.md)\n```\n"
    )

    assert broken_links(document) == [
        "doc.md: missing.md (no such file)",
        "doc.md: missing.png (no such file)",
        "doc.md: other.md#settings (no heading #settings in other.md)",
        "doc.md: #there (no heading #there in doc.md)",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("The policy's settings", "the-policys-settings"),
        (
            "Under failure (`tests/faults/`, also `make faults`)",
            "under-failure-testsfaults-also-make-faults",
        ),
        ("See it at work: `make demo`", "see-it-at-work-make-demo"),
        ("2026-12-04, 21:56 \u2013 2026-12-05, 00:56", "2026-12-04-2156--2026-12-05-0056"),
        ("Pages: the mentee's and [the mentor's](x.md)", "pages-the-mentees-and-the-mentors"),
    ],
)
def test_anchors_are_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor
