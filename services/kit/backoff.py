"""Exponential backoff, one rule for every retry loop: pure, so that a domain may use it
and a test may hold its numbers."""

from __future__ import annotations

# 2**64 times any base worth waiting is past any cap: a larger exponent would only
# overflow the float.
_MOST_DOUBLINGS = 64


def backoff(n: int, *, base: float, cap: float, jitter: float | None = None) -> float:
    """Seconds to wait after the `n`-th failure: `base * 2**n`, at most `cap`. With
    `jitter` (a draw in [0, 1), e.g. `random.random()`), that delay scaled into
    [1/2, 1): retries that failed together do not all come back at once."""
    delay = min(cap, base * 2.0 ** min(max(n, 0), _MOST_DOUBLINGS))
    return delay if jitter is None else delay * (0.5 + jitter / 2)
