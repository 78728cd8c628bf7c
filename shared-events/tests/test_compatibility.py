from typing import Any

import pytest

from shared_events.schemas import reader_problems, removed_properties, resolve


def obj(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or []}


INT: dict[str, Any] = {"type": "integer"}
STR: dict[str, Any] = {"type": "string"}


def messages(reader: dict[str, Any], writer: dict[str, Any]) -> list[str]:
    return [str(problem) for problem in reader_problems(reader, writer)]


def test_identical_schemas_are_compatible() -> None:
    schema = obj(["a"], a=INT, b=STR)
    assert messages(schema, schema) == []


def test_an_added_optional_property_is_compatible() -> None:
    assert messages(obj(["a"], a=INT, b=STR), obj(["a"], a=INT)) == []


def test_a_property_the_reader_dropped_is_ignored() -> None:
    assert messages(obj(["a"], a=INT), obj(["a", "b"], a=INT, b=STR)) == []


def test_a_new_required_property_is_incompatible() -> None:
    assert messages(obj(["a", "b"], a=INT, b=STR), obj(["a"], a=INT)) == [
        "b: new required property"
    ]


def test_an_optional_property_becoming_required_is_incompatible() -> None:
    assert messages(obj(["a", "b"], a=INT, b=STR), obj(["a"], a=INT, b=STR)) == [
        "b: became required"
    ]


def test_a_renamed_required_property_is_incompatible() -> None:
    assert messages(obj(["c"], c=INT), obj(["a"], a=INT)) == ["c: new required property"]


def test_a_changed_type_is_incompatible() -> None:
    assert messages(obj(a=STR), obj(a=INT)) == ["a: type changed from integer to string"]


def test_integers_are_numbers() -> None:
    assert messages({"type": "number"}, INT) == []
    assert messages(INT, {"type": "number"}) == ["<root>: type changed from number to integer"]


def test_a_narrowed_enum_is_incompatible_and_a_widened_one_is_not() -> None:
    wide = {"type": "string", "enum": ["a", "b", "c"]}
    narrow = {"type": "string", "enum": ["a", "b"]}
    assert messages(wide, narrow) == []
    assert messages(narrow, wide) == ["<root>: enum narrowed: ['c'] no longer accepted"]
    assert messages(narrow, STR) == ["<root>: restricted to ['a', 'b'] (was unrestricted)"]


def test_a_changed_const_is_incompatible() -> None:
    assert messages({"const": 2}, {"const": 1}) == ["<root>: enum narrowed: [1] no longer accepted"]


def test_a_removed_any_of_branch_is_incompatible() -> None:
    both = {"anyOf": [INT, {"type": "null"}]}
    assert messages(both, INT) == []
    assert messages(INT, both) == ["<root>: type changed from null to integer"]
    three = {"anyOf": [INT, STR, {"type": "null"}]}
    assert messages(both, three) == [
        "<root>: alternative string is no longer accepted (accepted: integer, null)"
    ]


def test_one_of_and_type_lists_are_branches_too() -> None:
    assert messages({"oneOf": [INT, STR]}, {"type": ["integer", "string"]}) == []
    assert messages({"type": ["integer"]}, {"oneOf": [INT, STR]}) != []


def test_tightened_bounds_are_incompatible_and_loosened_ones_are_not() -> None:
    assert messages({"type": "integer", "minimum": 0}, {"type": "integer", "minimum": 1}) == []
    assert messages({"type": "integer", "minimum": 1}, {"type": "integer", "minimum": 0}) == [
        "<root>: lower bound tightened to >= 1"
    ]
    assert messages({"type": "integer", "minimum": 1}, INT) == [
        "<root>: lower bound tightened to >= 1"
    ]
    assert messages({"type": "number", "maximum": 5}, {"type": "number", "maximum": 9}) == [
        "<root>: upper bound tightened to <= 5"
    ]
    assert messages({"type": "string", "maxLength": 3}, STR) == ["<root>: maxLength lowered to 3"]
    assert messages({"type": "array", "minItems": 2}, {"type": "array", "minItems": 1}) == [
        "<root>: minItems raised to 2"
    ]


def test_exclusive_and_inclusive_integer_bounds_compare_equal() -> None:
    positive = {"type": "integer", "exclusiveMinimum": 0}
    at_least_one = {"type": "integer", "minimum": 1}
    assert messages(positive, at_least_one) == []
    assert messages(at_least_one, positive) == []
    assert messages({"type": "number", "exclusiveMinimum": 0}, {"type": "number", "minimum": 0})


def test_an_added_or_changed_pattern_or_format_is_incompatible() -> None:
    assert messages({"type": "string", "pattern": "^[A-Z]{3}$"}, STR) == [
        "<root>: pattern changed from 'none' to '^[A-Z]{3}$'"
    ]
    assert messages({"type": "string", "format": "uuid"}, {"type": "string", "format": "email"})


def test_array_items_are_compared_with_a_readable_path() -> None:
    reader = obj(items={"type": "array", "items": obj(["sku"], sku=INT)})
    writer = obj(items={"type": "array", "items": obj(["sku"], sku=STR)})
    assert messages(reader, writer) == ["items[].sku: type changed from string to integer"]


def test_refs_into_defs_are_resolved() -> None:
    def with_enum(values: list[str]) -> dict[str, Any]:
        return {
            "$defs": {"Reason": {"type": "string", "enum": values}},
            **obj(["reason"], reason={"$ref": "#/$defs/Reason"}),
        }

    assert messages(with_enum(["a", "b"]), with_enum(["a"])) == []
    assert messages(with_enum(["a"]), with_enum(["a", "b"])) == [
        "reason: enum narrowed: ['b'] no longer accepted"
    ]


def test_resolve_refuses_remote_and_circular_refs() -> None:
    with pytest.raises(ValueError, match="cannot resolve"):
        resolve({"$ref": "https://example.com/schema"}, {})
    loop = {"$defs": {"A": {"$ref": "#/$defs/A"}}}
    with pytest.raises(ValueError, match="cannot resolve"):
        resolve({"$ref": "#/$defs/A"}, loop)


def test_closed_objects_refuse_properties_they_no_longer_declare() -> None:
    reader = {**obj(a=INT), "additionalProperties": False}
    assert messages(reader, obj(a=INT, b=STR)) == ["b: property no longer allowed"]


def test_removed_properties_are_found_at_any_depth() -> None:
    old = obj(a=INT, items={"type": "array", "items": obj(sku=STR, note=STR)})
    new = obj(items={"type": "array", "items": obj(sku=STR)})
    assert [str(p) for p in removed_properties(old, new)] == [
        "a: property removed",
        "items[].note: property removed",
    ]
    assert removed_properties(new, old) == []
