"""Pure functions judging whether readers of one JSON Schema can read data of another.

Readers are tolerant (unknown properties are ignored), so adding an optional property
is compatible and dropping one is not a reading problem (`removed_properties` reports
it for a published version, whose fields are a promise to existing readers).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason a reader may reject data: where (a dotted path, `[]` for items) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


def reader_problems(reader: Schema, writer: Schema) -> list[Incompatibility]:
    """Why data valid under `writer` may be rejected by a reader validating with `reader`."""
    return _compare(reader, reader, writer, writer, "")


def removed_properties(old: Schema, new: Schema) -> list[Incompatibility]:
    """Properties `old` declares (at any depth) that `new` no longer declares."""
    return _removed(old, old, new, new, "")


def resolve(node: Schema, root: Schema) -> Schema:
    """Follow local `$ref`s (`#/$defs/...`) and single-element `allOf`s to the schema itself."""
    seen: set[str] = set()
    while True:
        if "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
                raise ValueError(f"cannot resolve $ref {ref!r}")
            seen.add(ref)
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            return node


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _branches(node: Schema, root: Schema) -> list[Schema]:
    node = resolve(node, root)
    for keyword in ("anyOf", "oneOf"):
        if isinstance(node.get(keyword), list):
            return [leaf for branch in node[keyword] for leaf in _branches(branch, root)]
    types = node.get("type")
    if isinstance(types, list) and len(types) > 1:
        return [{**node, "type": one} for one in types]
    return [node]


def _describe(node: Schema) -> str:
    if "const" in node:
        return f"const {node['const']!r}"
    if "enum" in node:
        return f"enum {node['enum']!r}"
    return str(node.get("type", "any value"))


def _compare(
    reader: Schema, rroot: Schema, writer: Schema, wroot: Schema, path: str
) -> list[Incompatibility]:
    readers, writers = _branches(reader, rroot), _branches(writer, wroot)
    if len(readers) == 1 and len(writers) == 1:
        return _compare_one(readers[0], rroot, writers[0], wroot, path)
    problems: list[Incompatibility] = []
    for branch in writers:
        verdicts = [_compare(option, rroot, branch, wroot, path) for option in readers]
        if all(verdicts):
            if len(readers) == 1:
                problems.extend(verdicts[0])
            else:
                accepted = ", ".join(_describe(option) for option in readers)
                problems.append(
                    Incompatibility(
                        path,
                        f"alternative {_describe(branch)} is no longer accepted "
                        f"(accepted: {accepted})",
                    )
                )
    return problems


def _types(node: Schema) -> set[str] | None:
    types = node.get("type")
    if types is None:
        return None
    return {types} if isinstance(types, str) else set(types)


def _accepts(reader_types: set[str], writer_type: str) -> bool:
    return writer_type in reader_types or (writer_type == "integer" and "number" in reader_types)


def _compare_one(
    reader: Schema, rroot: Schema, writer: Schema, wroot: Schema, path: str
) -> list[Incompatibility]:
    rtypes, wtypes = _types(reader), _types(writer)
    if rtypes is not None:
        if wtypes is None:
            return [Incompatibility(path, f"type narrowed to {sorted(rtypes)} (was any type)")]
        if not all(_accepts(rtypes, one) for one in wtypes):
            was, now = "/".join(sorted(wtypes)), "/".join(sorted(rtypes))
            return [Incompatibility(path, f"type changed from {was} to {now}")]
    problems = _value_problems(reader, writer, path)
    problems += _size_problems(reader, writer, path)
    if "items" in reader and "items" in writer:
        items_path = f"{path}[]"
        problems += _compare(reader["items"], rroot, writer["items"], wroot, items_path)
    problems += _object_problems(reader, rroot, writer, wroot, path)
    return problems


def _allowed_values(node: Schema) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    enum = node.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _value_problems(reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
    problems: list[Incompatibility] = []
    allowed, written = _allowed_values(reader), _allowed_values(writer)
    if allowed is not None:
        if written is None:
            problems.append(Incompatibility(path, f"restricted to {allowed!r} (was unrestricted)"))
        elif lost := [value for value in written if value not in allowed]:
            problems.append(Incompatibility(path, f"enum narrowed: {lost!r} no longer accepted"))
    for keyword in ("pattern", "format"):
        if keyword in reader and reader[keyword] != writer.get(keyword):
            before = writer.get(keyword, "none")
            problems.append(
                Incompatibility(path, f"{keyword} changed from {before!r} to {reader[keyword]!r}")
            )
    if reader.get("uniqueItems") and not writer.get("uniqueItems"):
        problems.append(Incompatibility(path, "items must now be unique"))
    return problems


_LOWER_LIMITS = ("minLength", "minItems", "minProperties")
_UPPER_LIMITS = ("maxLength", "maxItems", "maxProperties")


def _size_problems(reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
    problems: list[Incompatibility] = []
    for keyword in _LOWER_LIMITS:
        if reader.get(keyword, 0) > writer.get(keyword, 0):
            problems.append(Incompatibility(path, f"{keyword} raised to {reader[keyword]}"))
    for keyword in _UPPER_LIMITS:
        if keyword in reader and reader[keyword] < writer.get(keyword, float("inf")):
            problems.append(Incompatibility(path, f"{keyword} lowered to {reader[keyword]}"))
    rlow, wlow = (
        _bound(reader, "minimum", "exclusiveMinimum"),
        _bound(writer, "minimum", "exclusiveMinimum"),
    )
    if rlow is not None and (wlow is None or rlow > wlow):
        problems.append(Incompatibility(path, f"lower bound tightened to {_show(rlow, '>')}"))
    rhigh, whigh = (
        _bound(reader, "maximum", "exclusiveMaximum"),
        _bound(writer, "maximum", "exclusiveMaximum"),
    )
    if rhigh is not None and (whigh is None or _tighter_upper(rhigh, whigh)):
        problems.append(Incompatibility(path, f"upper bound tightened to {_show(rhigh, '<')}"))
    return problems


def _bound(node: Schema, inclusive: str, exclusive: str) -> tuple[float, bool] | None:
    found = [(node[inclusive], False)] if inclusive in node else []
    if exclusive in node:
        value = node[exclusive]
        if node.get("type") == "integer" and isinstance(value, int):
            # On integers `> 0` is `>= 1`: compare them as the same bound.
            found.append((value + 1 if inclusive == "minimum" else value - 1, False))
        else:
            found.append((value, True))
    if not found:
        return None
    # For a lower bound (v, True) is tighter than (v, False); for an upper one, looser.
    return max(found) if inclusive == "minimum" else min(found, key=lambda b: (b[0], not b[1]))


def _tighter_upper(reader: tuple[float, bool], writer: tuple[float, bool]) -> bool:
    return reader[0] < writer[0] or (reader[0] == writer[0] and reader[1] and not writer[1])


def _show(bound: tuple[float, bool], sign: str) -> str:
    return f"{sign} {bound[0]}" if bound[1] else f"{sign}= {bound[0]}"


def _object_problems(
    reader: Schema, rroot: Schema, writer: Schema, wroot: Schema, path: str
) -> list[Incompatibility]:
    rprops: Mapping[str, Any] = reader.get("properties", {})
    wprops: Mapping[str, Any] = writer.get("properties", {})
    wrequired = set(writer.get("required", ()))
    problems: list[Incompatibility] = []
    for name in reader.get("required", ()):
        if name in wrequired:
            continue
        how = "became required" if name in wprops else "new required property"
        problems.append(Incompatibility(_join(path, name), how))
    for name, schema in rprops.items():
        if name in wprops:
            problems += _compare(schema, rroot, wprops[name], wroot, _join(path, name))
    if reader.get("additionalProperties") is False:
        for name in wprops:
            if name not in rprops:
                problems.append(Incompatibility(_join(path, name), "property no longer allowed"))
    return problems


def _removed(
    old: Schema, oroot: Schema, new: Schema, nroot: Schema, path: str
) -> list[Incompatibility]:
    olds, news = _branches(old, oroot), _branches(new, nroot)
    if len(olds) != len(news):
        return []
    problems: list[Incompatibility] = []
    for before, after in zip(olds, news, strict=True):
        bprops: Mapping[str, Any] = before.get("properties", {})
        aprops: Mapping[str, Any] = after.get("properties", {})
        for name, schema in bprops.items():
            if name in aprops:
                problems += _removed(schema, oroot, aprops[name], nroot, _join(path, name))
            else:
                problems.append(Incompatibility(_join(path, name), "property removed"))
        if "items" in before and "items" in after:
            problems += _removed(before["items"], oroot, after["items"], nroot, f"{path}[]")
    return problems
