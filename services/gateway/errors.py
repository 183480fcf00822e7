"""Malformed requests are a 422 with a JSON `{"detail": [...]}`, whatever they contain.

FastAPI's default handler echoes each offending value back (`input`), and
some values cannot be written as JSON: `NaN`, `Infinity`, `1e309` (parsed as
infinity), or a lone surrogate such as `"\\ud800"`. Echoing them turned a
malformed body into a 500. This handler keeps each problem's `type`, `loc`,
`msg` and `ctx`, never its `input`, and makes every value it keeps safe to
encode.

A body FastAPI cannot decode at all (not UTF-8, nested deeper than the
recursion limit, an integer of more than 4300 digits) is its generic 400
"There was an error parsing the body"; it is answered the same way, 422.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

KEPT = ("type", "loc", "msg", "ctx")
# What FastAPI raises (400) when the body's bytes do not decode as JSON at all.
UNPARSABLE_BODY = "There was an error parsing the body"


def install(app: FastAPI) -> None:
    """Answer every malformed request with a 422 that never echoes the input."""
    app.add_exception_handler(RequestValidationError, malformed_request)
    app.add_exception_handler(HTTPException, unparsable_body)


async def unparsable_body(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code != status.HTTP_400_BAD_REQUEST or error.detail != UNPARSABLE_BODY:
        return await http_exception_handler(request, error)
    cause = error.__cause__
    reason = f"{type(cause).__name__}: {cause}" if cause is not None else UNPARSABLE_BODY
    problem = {"type": "json_invalid", "loc": ["body"], "msg": f"the body is not JSON: {reason}"}
    return JSONResponse(
        {"detail": problems([problem])}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def malformed_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse(
        {"detail": problems(error.errors())},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Each validation problem without its input, with only JSON-safe values."""
    kept: list[dict[str, Any]] = []
    for error in errors:
        if not isinstance(error, Mapping):
            kept.append({"type": "invalid", "loc": [], "msg": json_safe(error)})
            continue
        problem = {key: json_safe(error[key]) for key in KEPT if key in error}
        problem.setdefault("type", "invalid")
        problem.setdefault("loc", [])
        problem.setdefault("msg", "invalid input")
        kept.append(problem)
    return kept


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` as something `json.dumps(allow_nan=False)` and UTF-8 can always encode."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        # A lone surrogate cannot be encoded as UTF-8: write it as its escape.
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if depth >= 8:
        return "…"
    if isinstance(value, Mapping):
        return {json_safe(str(k)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return json_safe(str(value), depth)
