"""A 422 never echoes the input, and whatever it keeps can be written as JSON."""

from __future__ import annotations

import json

from services.gateway.errors import json_safe, problems


def test_a_problem_keeps_type_location_message_and_context_but_never_the_input() -> None:
    [problem] = problems(
        [
            {
                "type": "bool_type",
                "loc": ("body", "\ud800", 0),
                "msg": "Input should be a valid boolean",
                "input": float("nan"),
                "ctx": {"error": ValueError("no"), "limit": float("inf")},
            }
        ]
    )
    assert problem == {
        "type": "bool_type",
        "loc": ["body", "\\ud800", 0],
        "msg": "Input should be a valid boolean",
        "ctx": {"error": "no", "limit": "inf"},
    }
    json.dumps(problem, allow_nan=False, ensure_ascii=False).encode("utf-8")


def test_anything_becomes_encodable_json() -> None:
    hostile = {"\udfff": [float("-inf"), b"\xff", {1, 2}, None, True, 3, 1.5]}
    safe = json_safe(hostile)
    assert safe == {"\\udfff": ["-inf", "b'\\xff'", "{1, 2}", None, True, 3, 1.5]}
    json.dumps(safe, allow_nan=False, ensure_ascii=False).encode("utf-8")
