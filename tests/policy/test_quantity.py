"""The strict quantity parser: exact values for valid quantities, errors for the rest."""

from __future__ import annotations

from decimal import Decimal

import pytest

from k8sclaw_controllers.policy import QuantityError, parse_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "1"),
        (2, "2"),
        ("500m", "0.5"),
        ("1.5", "1.5"),
        (".5", "0.5"),
        ("1Ki", "1024"),
        ("128Mi", str(128 * 2**20)),
        ("1Gi", str(2**30)),
        ("2Ei", str(2 * 2**60)),
        ("1k", "1000"),
        ("1M", "1000000"),
        ("1G", "1000000000"),
        ("100n", "0.0000001"),
        ("5u", "0.000005"),
        ("1e3", "1000"),
        ("1E-3", "0.001"),
        ("+4", "4"),
        ("0", "0"),
    ],
)
def test_valid_quantities_parse_exactly(text: object, expected: str) -> None:
    assert parse_quantity(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "1.2.3",
        "1gi",  # binary suffixes are case-sensitive
        "1KB",
        "Mi",
        "1 Gi",
        "-1",
        "-500m",
        "1e99999",
        "1" * 65,
        "0x10",
        "∞",
        True,
        1.5,
        None,
        ["1"],
    ],
)
def test_malformed_quantities_raise_a_clear_error(text: object) -> None:
    with pytest.raises(QuantityError, match=r"quantity|negative|exponent"):
        parse_quantity(text)
