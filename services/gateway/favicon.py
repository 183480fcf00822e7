"""`/favicon.ico`: the site's icon (an SVG, as its `Content-Type` says), so that a
browser asking for it by that name, as each does for a page without a link to one,
gets it rather than a 404. The pages link it (templates/base.html, docs)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

ICON = Path(__file__).parent / "static" / "favicon.svg"

router = APIRouter()


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    return FileResponse(
        ICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )
