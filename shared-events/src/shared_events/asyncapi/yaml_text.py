"""A document of maps, lists, strings, integers and booleans as block-style YAML text.

Enough YAML for the AsyncAPI document, and no dependency for it: plain scalars only where
nothing could read them as another type, everything else double-quoted (a JSON string is a
YAML double-quoted scalar), long prose folded.
"""

import json
import re
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

WIDTH: Final = 100

# Starts like a word, no indicator characters, no trailing space: a plain scalar stays a string.
_PLAIN: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$ .,/()'-]*")
# What YAML 1.1 readers (PyYAML among them) would take for booleans or null.
_SPECIAL: Final = frozenset("y n yes no on off true false null".split())
_FOLD_AT: Final = 72


def dump(document: Mapping[str, Any]) -> str:
    """The document as YAML text, keys in the order given, with a trailing newline."""
    return "\n".join(_block(document, 0)) + "\n"


def _block(node: Mapping[str, Any] | Sequence[Any], indent: int) -> Iterator[str]:
    pad = " " * indent
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str):
                raise TypeError(f"keys must be strings, got {key!r}")
            if _nested(value):
                yield f"{pad}{_scalar(key)}:"
                yield from _block(value, indent + 2)
            else:
                yield from _inline(f"{pad}{_scalar(key)}:", value, indent + 2)
        return
    for item in node:
        if _nested(item):
            lines = list(_block(item, indent + 2))
            yield f"{pad}- {lines[0][indent + 2 :]}"
            yield from lines[1:]
        else:
            yield from _inline(f"{pad}-", item, indent + 2)


def _nested(value: object) -> bool:
    return isinstance(value, Mapping | list | tuple) and len(value) > 0


def _inline(prefix: str, value: object, indent: int) -> Iterator[str]:
    if isinstance(value, str) and _foldable(value, indent):
        yield f"{prefix} >-"
        for line in textwrap.wrap(value, max(WIDTH - indent, 40), break_long_words=False):
            yield " " * indent + line
        return
    yield f"{prefix} {_scalar(value)}"


def _foldable(text: str, indent: int) -> bool:
    # Folding turns each line break into one space: only text whose spaces survive that.
    return len(text) > min(_FOLD_AT, WIDTH - indent) and text == " ".join(text.split())


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return "{}" if isinstance(value, Mapping) else "[]"
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and not value.endswith(" ") and value.lower() not in _SPECIAL:
            return value
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as YAML")
