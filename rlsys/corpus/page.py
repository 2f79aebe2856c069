"""The page model and the markdown sectioner.

A page is markdown: `# Title`, a `*Revision ID: … | Timestamp: …*` line, `---`, infobox rows
`| key = value`, then `##`/`###` sections with `[text](target)` links. Sections are found from
ATX headings (`#`..`######` followed by a space):

- section id: `"<page_id>:<slug>"` with `slug = heading.strip().lower().replace(" ", "_")`
  (the reference environment's rule), made unique within the page: the second `Reception`
  becomes `…:reception_2`, the third `…:reception_3`;
- `"<page_id>:full"` is the whole page;
- a section's text starts at its heading line and runs to the next heading of the same or a
  higher level (so it includes its subsections), or to the end of the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

HEADING_RE = re.compile(r"^(#+)(.*)$")
FULL_SLUG = "full"


def slugify(heading: str) -> str:
    """The reference environment's slug: strip, lower-case, spaces to underscores."""
    return heading.strip().lower().replace(" ", "_")


def page_id_for_title(title: str) -> str:
    """Page id of a title, as in `willcb/rare-wiki-pages` (`id == title.lower().replace(" ", "_")`)."""
    return title.strip().lower().replace(" ", "_")


@dataclass(frozen=True)
class Section:
    """One heading of a page and the text under it (subsections included)."""

    section_id: str
    name: str
    level: int
    start_line: int  # index of the heading line
    end_line: int    # exclusive: the next heading of the same or higher level, or the end
    text: str

    def to_view(self) -> dict:
        """What `view_sections` shows the model."""
        return {"section_id": self.section_id, "section_name": self.name, "level": self.level}


@dataclass
class Page:
    """A corpus page: id, title and markdown content; sections are parsed on first use."""

    id: str
    title: str
    content: str
    meta: dict = field(default_factory=dict)

    @cached_property
    def sections(self) -> list[Section]:
        return parse_sections(self.id, self.content)

    @cached_property
    def _by_id(self) -> dict[str, Section]:
        return {s.section_id: s for s in self.sections}

    def section_ids(self) -> list[str]:
        return [s.section_id for s in self.sections]

    def read(self, section_id: str) -> str | None:
        """Text of a section id of this page (`<id>:full` is the whole page); None if unknown."""
        if section_id == f"{self.id}:{FULL_SLUG}":
            return self.content
        section = self._by_id.get(section_id)
        return section.text if section else None

    def to_record(self) -> dict:
        return {"id": self.id, "title": self.title, "content": self.content}


def parse_sections(page_id: str, content: str) -> list[Section]:
    """All headed sections of a page in document order, with unique ids."""
    lines = content.split("\n")
    heads: list[tuple[int, int, str]] = []  # (line index, level, name)
    for i, line in enumerate(lines):
        m = HEADING_RE.match(line)
        if m and m.group(2).strip():
            heads.append((i, len(m.group(1)), m.group(2).strip()))

    used: set[str] = {FULL_SLUG}
    sections: list[Section] = []
    for n, (start, level, name) in enumerate(heads):
        end = len(lines)
        for later_start, later_level, _ in heads[n + 1 :]:
            if later_level <= level:
                end = later_start
                break
        slug = unique_slug(slugify(name), used)
        sections.append(
            Section(
                section_id=f"{page_id}:{slug}",
                name=name,
                level=level,
                start_line=start,
                end_line=end,
                text="\n".join(lines[start:end]),
            )
        )
    return sections


def unique_slug(slug: str, used: set[str]) -> str:
    """`slug`, or `slug_2`, `slug_3`, … — the first not in `used` (which it is added to)."""
    candidate, n = slug, 1
    while candidate in used:
        n += 1
        candidate = f"{slug}_{n}"
    used.add(candidate)
    return candidate


def first_paragraph(content: str, limit: int = 200) -> str:
    """A short plain snippet of a page: the first prose line after the header block."""
    for line in content.split("\n"):
        s = line.strip()
        if not s or s.startswith(("#", "|", "*Revision", "---", "}}", "{{")):
            continue
        return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"
    return ""
