"""`split_text`: parts within the limit, none empty, every character kept, fences intact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8sclaw_controllers.channels._split import split_pieces, split_text

WORDS = st.sampled_from(["word", "a", "longerword", "```", "```py", "\n", "\n\n", " ", "é", "🙂"])
TEXTS = st.lists(WORDS, max_size=300).map("".join) | st.text(max_size=2000)


def utf16(text: str) -> int:
    """Telegram counts UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, limit=st.integers(min_value=16, max_value=200))
def test_parts_fit_are_never_empty_and_keep_every_character(text: str, limit: int) -> None:
    pieces = split_pieces(text, limit)
    assert "".join(p.text for p in pieces) == text
    for piece in pieces:
        assert piece.text
        assert 0 < len(piece.render()) <= limit


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, limit=st.integers(min_value=16, max_value=120))
def test_a_custom_measure_is_honoured(text: str, limit: int) -> None:
    for part in split_text(text, limit, measure=utf16):
        assert 0 < utf16(part) <= limit


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab \n", max_size=2000), limit=st.integers(16, 300))
def test_without_fences_the_parts_concatenate_to_the_text(text: str, limit: int) -> None:
    assert "".join(split_text(text, limit)) == text


def test_cuts_prefer_paragraphs_then_lines_then_words() -> None:
    text = "first paragraph here\n\nsecond one is here\nand more words follow"
    assert split_text(text, 30) == [
        "first paragraph here\n\n",
        "second one is here\n",
        "and more words follow",
    ]
    assert split_text("alpha beta gamma delta epsilon", 20) == [
        "alpha beta gamma ",
        "delta epsilon",
    ]


def test_a_cut_inside_a_fence_closes_and_reopens_it() -> None:
    code = "".join(f"line {i}\n" for i in range(30))
    text = f"intro\n\n```python\n{code}```\nafter"
    parts = split_text(text, 80)
    assert len(parts) > 2
    for part in parts[1:-1]:
        assert part.startswith("```python\n") and part.endswith("```")
        assert part.count("```") == 2
    assert parts[0] == "intro\n\n"  # the boundary before the fence beats one inside it


def test_text_that_fits_is_one_part_and_empty_text_none() -> None:
    assert split_text("short", 100) == ["short"]
    assert split_text("", 100) == []


def test_a_limit_too_small_for_fence_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="minimum"):
        split_text("x", 4)


def test_ten_thousand_characters_split_at_telegrams_limit() -> None:
    text = "\n\n".join("word " * 40 for _ in range(50))
    parts = split_text(text, 4096)
    assert len(parts) == 3 and "".join(parts) == text
