"""Two versions of a record, field by field: nested keys, fields on one side only, vectors compared as Chroma
stores them (float32), types that differ."""

from __future__ import annotations

from core.field_diff import field_changes


def test_nested_fields_and_one_sided_ones() -> None:
    a = {"id": "x", "properties": {"state": "open", "name": "n", "gone": 1}, "label": "ISSUE"}
    b = {"id": "x", "properties": {"state": "closed", "name": "n", "new": [1, 2]}, "label": "ISSUE"}
    got = [(c.path, c.change, c.a, c.b) for c in field_changes(a, b)]
    assert got == [("properties.state", "changed", "open", "closed"), ("properties.gone", "only-a", 1, None),
                   ("properties.new", "only-b", None, [1, 2])]


def test_vectors_compare_as_float32_and_summarise() -> None:
    v = [0.1 * i for i in range(64)]
    assert field_changes({"embedding": v}, {"embedding": [x * (1 + 1e-12) for x in v]}) == ()  # same float32s
    w = list(v)
    w[3] += 0.5
    (c,) = field_changes({"embedding": v}, {"embedding": w})
    assert c.change == "vector" and c.note is not None and c.note.startswith("1 of 64 values differ, max |Δ| 0.5")
    (short,) = field_changes({"p": [1, 2]}, {"p": [1, 3]})  # a short number list is shown whole
    assert (short.change, short.a, short.b) == ("changed", [1, 2], [1, 3])
    (length,) = field_changes({"embedding": v}, {"embedding": v[:10]})
    assert length.note == "64 values vs 10"


def test_types_keys_and_the_limit() -> None:
    (c,) = field_changes({"n": 1}, {"n": 1.0})  # JSON keeps them apart; so does the comparison
    assert c.change == "changed"
    (dotted,) = field_changes({"a.b": 1}, {"a.b": 2})
    assert dotted.path == '["a.b"]'
    many = field_changes({str(i): i for i in range(300)}, {str(i): -i - 1 for i in range(300)}, limit=200)
    assert len(many) == 200
