"""The model-facing tool contract: argument checking and the short error strings the model reads.

`dispatch(service, name, args)` never raises: wrong argument types, unknown ids and unknown tool
names come back as one-line `Error: …` strings, with close matches suggested for unknown ids.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlsys.corpus.service import CorpusService

TOOLS = {
    "search_pages": ("query",),
    "view_sections": ("page_id",),
    "read_section": ("section_id",),
}
MAX_ID_CHARS = 300


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def close_matches(word: str, candidates: list[str], n: int = 3) -> list[str]:
    """Up to n candidates close to `word` (prefix/substring hits first, then difflib)."""
    word = word.strip().lower()
    if not word:
        return []
    prefix = [c for c in candidates if c.startswith(word) or word.startswith(c)]
    inside = [c for c in candidates if word in c and c not in prefix]
    fuzzy = difflib.get_close_matches(word, candidates, n=n, cutoff=0.6)
    out: list[str] = []
    for c in prefix + inside + fuzzy:
        if c not in out:
            out.append(c)
    return out[:n]


def unknown_page_error(service: "CorpusService", page_id: str) -> str:
    if ":" in page_id and service.has_page(page_id.split(":", 1)[0]):
        return (f"Error: {_short(page_id)} is a section id, not a page id; "
                f"call read_section({page_id!r}) or view_sections({page_id.split(':', 1)[0]!r})")
    guesses = close_matches(page_id, service.page_ids())
    if not guesses:
        from rlsys.corpus.page import page_id_for_title

        guesses = close_matches(page_id_for_title(page_id), service.page_ids())
    hint = f" Did you mean: {', '.join(repr(g) for g in guesses)}?" if guesses else " Use search_pages(query) to find page ids."
    return f"Error: unknown page_id {_short(page_id)}.{hint}"


def unknown_section_error(service: "CorpusService", section_id: str) -> str:
    if ":" not in section_id:
        if service.has_page(section_id):
            return (f"Error: {section_id!r} is a page id; section ids look like '{section_id}:<section>'. "
                    f"Call view_sections({section_id!r}) to list them, or read_section('{section_id}:full').")
        guesses = close_matches(section_id, service.page_ids())
        hint = f" Close page ids: {', '.join(repr(g) for g in guesses)}." if guesses else ""
        return (f"Error: unknown section_id {_short(section_id)}: section ids look like '<page_id>:<section>' "
                f"(see view_sections(page_id)).{hint}")
    page_id = section_id.split(":", 1)[0]
    if not service.has_page(page_id):
        return f"Error: unknown section_id {_short(section_id)}: " + unknown_page_error(service, page_id)[len("Error: "):]
    ids = [s["section_id"] for s in service.view_sections(page_id)] + [f"{page_id}:full"]
    guesses = close_matches(section_id, ids)
    listed = ", ".join(repr(g) for g in (guesses or ids[:8]))
    lead = "Did you mean" if guesses else "Sections of this page include"
    return f"Error: unknown section_id {_short(section_id)}. {lead}: {listed}?"


def _arg(args: dict, name: str, tool: str) -> tuple[Any, str | None]:
    """The argument `name` (also accepted positionally as args['args'][0]), or an error."""
    if name in args:
        value = args[name]
    elif isinstance(args.get("args"), (list, tuple)) and args["args"]:
        value = args["args"][0]
    elif len(args) == 1:
        value = next(iter(args.values()))  # a misnamed single keyword: be lenient
    else:
        return None, f"Error: {tool}() needs the argument {name!r} (a string)"
    if not isinstance(value, str):
        return None, f"Error: {tool}({name}=...) needs a string, got {type(value).__name__} {_short(value)}"
    if not value.strip():
        return None, f"Error: {tool}({name}=...) got an empty string"
    return value, None


def parse_call(name: Any, args: Any) -> tuple[str, str, int | None] | str:
    """(tool, its string argument, k for search_pages) of a tool call, or an `Error: …` string."""
    if not isinstance(name, str) or name not in TOOLS:
        return f"Error: unknown tool {_short(name)}; available tools: {', '.join(TOOLS)}"
    if args is None:
        args = {}
    if not isinstance(args, dict):
        args = {"args": list(args)} if isinstance(args, (list, tuple)) else {"args": [args]}
    value, error = _arg(args, TOOLS[name][0], name)
    if error:
        return error
    if name == "search_pages":
        k = args.get("k", args.get("top_k"))
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
            return f"Error: search_pages(k=...) needs a positive integer, got {_short(k)}"
        return name, value[:1000], min(k, 50) if k else None
    if len(value) > MAX_ID_CHARS:
        return f"Error: {TOOLS[name][0]} is too long ({len(value)} characters)"
    return name, value.strip(), None


def dispatch(service: "CorpusService", name: Any, args: Any) -> Any:
    """Runs one tool call; any problem becomes an `Error: …` string (never an exception)."""
    try:
        call = parse_call(name, args)
        if isinstance(call, str):
            return call
        tool, value, k = call
        if tool == "search_pages":
            return service.search_pages(value, k=k)
        if tool == "view_sections":
            return service.view_sections(value)
        return service.read_section(value)
    except Exception as err:  # a bug of ours must not kill the model's cell
        return f"Error: {name} failed ({type(err).__name__}: {str(err)[:200]})"
