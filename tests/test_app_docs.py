"""docs/app.md lists exactly the keys the app binds."""

from __future__ import annotations

from pathlib import Path

from gazesam.app.keys import BINDINGS, markdown_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "app.md"


def test_docs_key_table_is_the_one_the_app_binds() -> None:
    text = DOC.read_text()
    start = text.index("<!-- keys:begin")
    body = text[text.index("\n", start) + 1: text.index("<!-- keys:end -->")].strip()
    assert body == markdown_table()


def test_every_action_has_a_key_and_no_key_is_bound_twice() -> None:
    seen: dict[str, str] = {}
    for b in BINDINGS:
        assert b.keys, b.action
        for k in b.keys:
            assert k not in seen, f"{k} bound to {seen.get(k)} and {b.action}"
            seen[k] = b.action
