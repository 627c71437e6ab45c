"""Strict parser for Kubernetes resource quantities ("500m", "1Gi", "2", "1e3").

The policy engine compares sandbox limits with a policy's caps, so a quantity must be
turned into an exact number; a malformed one becomes a `QuantityError` the webhook
reports as a denial, never a crash (upstream used a must-parse that panicked).
The grammar is the apiserver's: sign, digits with optional fraction, then either a
binary suffix (Ki..Ei), a decimal suffix (n u m "" k M G T P E) or a decimal exponent.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<suffix>[KMGTPE]i|[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?$"
)
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# Longer strings or larger exponents than Kubernetes itself accepts are refused up
# front, so a hostile value cannot make Decimal arithmetic slow or overflow.
_MAX_LENGTH = 64
_MAX_EXPONENT = 30


class QuantityError(ValueError):
    """A value that is not a valid, non-negative Kubernetes quantity."""


def parse_quantity(value: object) -> Decimal:
    """The exact value of a quantity: `"1Gi"` -> 1073741824, `"250m"` -> 0.25.

    Accepts what the API server stores (str, or int for int-or-string fields); bools,
    floats, negative values and anything outside the grammar raise `QuantityError`.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise QuantityError(f"{value!r} is not a quantity (expected e.g. 500m, 1Gi or 2)")
    text = str(value).strip()
    if not text or len(text) > _MAX_LENGTH:
        raise QuantityError(f"{value!r} is not a quantity (expected e.g. 500m, 1Gi or 2)")
    match = _PATTERN.match(text)
    if match is None:
        raise QuantityError(f"{value!r} is not a quantity (expected e.g. 500m, 1Gi or 2)")
    number = Decimal(match["number"])
    if number < 0:
        raise QuantityError(f"{value!r} is negative; resource quantities must be >= 0")
    return _scale(number, match["suffix"], match["exponent"], value)


def _scale(number: Decimal, suffix: str | None, exponent: str | None, value: object) -> Decimal:
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        ctx.traps[decimal.Inexact] = False
        if exponent is not None:
            power = int(exponent)
            if abs(power) > _MAX_EXPONENT:
                raise QuantityError(f"{value!r} has an exponent beyond ±{_MAX_EXPONENT}")
            return number.scaleb(power)
        if suffix in _BINARY:
            return number * Decimal(2 ** _BINARY[suffix])
        return number.scaleb(_DECIMAL[suffix or ""])
