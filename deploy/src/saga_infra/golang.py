"""Where the Go toolchain is: it builds Jaeger, the compose CLI and helm from their modules."""

from __future__ import annotations

import shutil
from pathlib import Path

# Where the machine image keeps Go when it is not on PATH.
FALLBACK = Path("/usr/local/go/bin/go")


def find_go() -> str | None:
    """`go` on PATH, else the machine image's; None when there is neither."""
    return shutil.which("go") or (str(FALLBACK) if FALLBACK.is_file() else None)
