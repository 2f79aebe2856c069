"""Pages to passages: each section's own text (up to its first subsection), cleaned of markdown
noise and cut into word windows; the unit that is embedded and full-text indexed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlsys.corpus.page import Page

LINK_RE = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
NOISE_RE = re.compile(r"[*_`|]+|^\s*}}\s*$|^\s*---\s*$|^\s*\*?Revision ID:.*$", re.MULTILINE)
INFOBOX_RE = re.compile(r"^\|\s*([^=\n]*?)\s*=\s*", re.MULTILINE)
SPACES_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Passage:
    passage_id: str    # "<section_id>#<n>"
    page_id: str
    section_id: str
    title: str
    section_name: str
    text: str          # cleaned passage text (what BM25 indexes and snippets show)

    def embed_text(self) -> str:
        """Text given to the embedding model: page title and section name give context."""
        if self.section_name == self.title:
            return f"{self.title}: {self.text}"
        return f"{self.title} — {self.section_name}: {self.text}"


def clean_markdown(text: str) -> str:
    """Link text kept, link targets dropped, emphasis/infobox punctuation and the revision line removed."""
    text = INFOBOX_RE.sub(lambda m: m.group(1).replace("_", " ") + ": ", text)
    text = LINK_RE.sub(r"\1", text)
    text = NOISE_RE.sub(" ", text)
    return SPACES_RE.sub(" ", text).strip()


def own_text(page: Page, index: int) -> str:
    """Section `index`'s text without its heading line and without its subsections."""
    sections = page.sections
    section = sections[index]
    end = section.end_line
    if index + 1 < len(sections) and sections[index + 1].start_line < end:
        end = sections[index + 1].start_line
    lines = page.content.split("\n")
    return "\n".join(lines[section.start_line + 1 : end])


def page_passages(page: Page, chunk_words: int = 120, overlap: int = 20, min_words: int = 3) -> list[Passage]:
    """All passages of a page in document order (a page without headings is one section)."""
    out: list[Passage] = []
    units: list[tuple[str, str, str]] = []  # (section_id, section_name, text)
    if page.sections:
        head = page.content.split("\n")[: page.sections[0].start_line]
        if clean_markdown("\n".join(head)):
            units.append((f"{page.id}:full", page.title, "\n".join(head)))
        units += [(s.section_id, s.name, own_text(page, i)) for i, s in enumerate(page.sections)]
    else:
        units.append((f"{page.id}:full", page.title, page.content))
    step = max(1, chunk_words - max(0, min(overlap, chunk_words - 1)))
    for section_id, name, raw in units:
        words = clean_markdown(raw).split(" ")
        if len(words) < min_words:
            continue
        for n, start in enumerate(range(0, max(1, len(words) - overlap if len(words) > chunk_words else 1), step)):
            chunk = " ".join(words[start : start + chunk_words])
            out.append(Passage(f"{section_id}#{n}", page.id, section_id, page.title, name, chunk))
    return out
