"""How the columns family's hints name what was probably meant."""

from __future__ import annotations

import difflib


def did_you_mean(name: str, options: list[str], what: str) -> str:
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"`{lowered[c]}`" for c in close) + "?"


def columns_hint(names: list[str], what: str = "its columns") -> str:
    if not names:
        return ""
    shown = ", ".join(f"`{n}`" for n in names[:12])
    more = f" and {len(names) - 12} more" if len(names) > 12 else ""
    return f"{what}: {shown}{more}"
