"""Amounts of money as people read them, from Stripe's smallest units (pure)."""

from __future__ import annotations

# Stripe's currencies whose smallest unit is the unit itself, and those in thousandths
# (https://docs.stripe.com/currencies#zero-decimal); all others are in hundredths.
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
# Written before the amount; any other currency is written after it, by its ISO code.
SYMBOLS = {"eur": "€", "gbp": "£", "usd": "$", "jpy": "¥"}


def amount_read(amount: int, currency: str) -> str:
    """An amount in `currency`'s smallest unit as a person reads it: '€12.50', '¥1,500',
    '12.50 CHF' (English separators, as the rest of the emails and pages)."""
    code = currency.lower()
    decimals = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    whole, part = divmod(amount, 10**decimals)
    number = f"{whole:,}.{part:0{decimals}d}" if decimals else f"{whole:,}"
    symbol = SYMBOLS.get(code)
    return f"{symbol}{number}" if symbol else f"{number} {code.upper()}"
