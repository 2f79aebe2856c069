"""Loading pages and questions from a source string.

    load_pages("synthetic", synthetic_entities=300)             # built-in fictional corpus
    load_pages("hf:willcb/rare-wiki-pages")                     # Hugging Face hub (datasets)
    load_pages("/data/pages.jsonl")                             # local JSONL / JSON / parquet
    load_questions("/work/shared/data/wiki-trivia-v4/questions.jsonl")

A source that cannot be read raises `CorpusSourceError` with a message that names the source
and what to do instead; the hub is probed with a short timeout first, so nothing hangs offline.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from rlsys.corpus.page import Page, page_id_for_title
from rlsys.corpus.types import Question

if TYPE_CHECKING:
    from rlsys.corpus.config import CorpusConfig

HUB_PROBE_TIMEOUT_S = 3.0
WIKI_TRIVIA_V4 = "willcb/wiki-trivia-questions-v4"
WIKI_TRIVIA_V4_TRAIN = 382  # the reference split: rows 0..381 train, 382..477 test
DEFAULT_QUESTIONS = f"hf:{WIKI_TRIVIA_V4}"


class CorpusSourceError(ValueError):
    """A page or question source that cannot be read; the message says why and what to use instead."""


def load_pages(source: "str | CorpusConfig", *, synthetic_entities: int = 300, seed: int = 0) -> list[Page]:
    """Pages from `synthetic`, `hf:<dataset>` or a local JSONL/JSON/parquet file (or a `CorpusConfig`)."""
    if not isinstance(source, str):
        cfg = source
        return load_pages(cfg.source, synthetic_entities=cfg.synthetic_entities, seed=cfg.seed)
    if source == "synthetic":
        from rlsys.corpus.synthetic import generate_synthetic

        return generate_synthetic(synthetic_entities, seed)[0]
    rows = _hub_rows(source[3:]) if source.startswith("hf:") else _file_rows(source)
    pages = [_page_from_row(row, source, n) for n, row in enumerate(rows)]
    seen: set[str] = set()
    for page in pages:
        if page.id in seen:
            raise CorpusSourceError(f"{source}: duplicate page id {page.id!r}")
        seen.add(page.id)
    if not pages:
        raise CorpusSourceError(f"{source}: no pages found")
    return pages


def load_questions(source: "str | CorpusConfig", *, synthetic_entities: int = 300, seed: int = 0) -> list[Question]:
    """Questions from `synthetic`, `hf:<dataset>` or a local JSONL/JSON/parquet file.

    Given a `CorpusConfig` instead of a string, its `questions` source is used (`auto`: the
    synthetic corpus's own questions, else `hf:willcb/wiki-trivia-questions-v4`).

    Rows need `question` and `answer`; optional `id`, `page_id` or `filename` (`<title>.md`),
    `section_id` and `split`. Without `split`, `willcb/wiki-trivia-questions-v4` rows use the
    reference split (first 382 train), other rows a stable hash of their id (about 20% test).
    """
    if not isinstance(source, str):
        cfg = source
        return load_questions(questions_source_for(cfg.source, cfg.questions),
                              synthetic_entities=cfg.synthetic_entities, seed=cfg.seed)
    if source == "synthetic":
        from rlsys.corpus.synthetic import generate_synthetic

        return generate_synthetic(synthetic_entities, seed)[1]
    is_hub = source.startswith("hf:")
    rows = _hub_rows(source[3:]) if is_hub else _file_rows(source)
    v4 = WIKI_TRIVIA_V4 in source or "wiki-trivia-v4" in source
    questions = [_question_from_row(row, source, n, v4) for n, row in enumerate(rows)]
    if not questions:
        raise CorpusSourceError(f"{source}: no questions found")
    return questions


def questions_source_for(pages_source: str, questions: str = "auto") -> str:
    """The question source to use: `questions` unless "auto" (synthetic pages -> synthetic questions)."""
    if questions != "auto":
        return questions
    return "synthetic" if pages_source == "synthetic" else DEFAULT_QUESTIONS


def _page_from_row(row: dict[str, Any], source: str, n: int) -> Page:
    content = row.get("content") or row.get("text")
    if not isinstance(content, str):
        raise CorpusSourceError(f"{source}: row {n} has no `content` text (keys: {sorted(row)})")
    title = row.get("title")
    if not title:
        first = content.lstrip().split("\n", 1)[0]
        title = first.lstrip("#").strip() if first.startswith("#") else None
    given_id = row.get("id")
    if (given_id is None or str(given_id).strip() == "") and not title:
        raise CorpusSourceError(f"{source}: row {n} has neither `id` nor `title`")
    # Titles are shown and matched with HTML entities decoded (`AT&amp;T` -> `AT&T`). A
    # user-supplied id is kept verbatim (the tools show it to the model); otherwise the dataset's
    # rule on the decoded title.
    title = html.unescape(str(title)) if title else title
    page_id = str(given_id).strip() if given_id is not None and str(given_id).strip() else page_id_for_title(title)
    meta = {k: v for k, v in row.items() if k not in ("id", "title", "content", "text")}
    return Page(id=page_id, title=str(title or page_id), content=content, meta=meta)


def _question_from_row(row: dict[str, Any], source: str, n: int, v4: bool) -> Question:
    if not isinstance(row.get("question"), str) or row.get("answer") is None:
        raise CorpusSourceError(f"{source}: row {n} needs `question` and `answer` (keys: {sorted(row)})")
    index = row.get("v4_index", n) if v4 else n
    qid = str(row.get("id") or (f"v4-{index:04d}" if v4 else f"q-{n:05d}"))
    page_id = row.get("page_id")
    filename = row.get("filename")
    if not page_id and isinstance(filename, str) and filename:
        page_id = page_id_for_title(filename[:-3] if filename.endswith(".md") else filename)
    split = row.get("split")
    if split not in ("train", "test"):
        if v4:
            split = "train" if index < WIKI_TRIVIA_V4_TRAIN else "test"
        else:
            split = "test" if hashlib.sha256(qid.encode()).digest()[0] < 51 else "train"
    return Question(id=qid, question=row["question"], answer=str(row["answer"]),
                    page_id=page_id or None, section_id=row.get("section_id") or None, split=split)


def _file_rows(source: str) -> list[dict[str, Any]]:
    path = Path(source).expanduser()
    if not path.exists():
        raise CorpusSourceError(
            f"source {source!r} is neither `synthetic`, `hf:<dataset>` nor an existing file")
    if path.is_dir():
        raise CorpusSourceError(f"{source} is a directory; give a .jsonl, .json or .parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if suffix == ".json":
            data = json.loads(path.read_text())
            if not isinstance(data, list):
                raise CorpusSourceError(f"{source}: a .json source must hold a list of rows")
            return data
        rows = []
        with path.open() as fh:
            for line_no, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise CorpusSourceError(f"{source}:{line_no}: not valid JSON ({err.msg})") from None
        return rows
    except CorpusSourceError:
        raise
    except Exception as err:  # unreadable parquet, permissions, ...
        raise CorpusSourceError(f"cannot read {source}: {err}") from None


def _hub_reachable(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "huggingface.co", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _hub_offline_message(dataset: str, why: str) -> str:
    return (f"cannot load Hugging Face dataset {dataset!r}: {why}. Use a local copy instead "
            f"(a JSONL/JSON/parquet path, e.g. --source /path/to/pages.jsonl) or `synthetic` "
            f"for the built-in offline corpus.")


def _hub_rows(dataset: str) -> list[dict[str, Any]]:
    """Rows of the dataset's train split; a cached copy is used offline if `datasets` has one."""
    if not dataset or "/" not in dataset:
        raise CorpusSourceError(f"hf source needs `hf:<owner>/<name>` (got `hf:{dataset}`)")
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes") or \
        os.environ.get("HF_DATASETS_OFFLINE", "0").lower() in ("1", "true", "yes")
    if not offline and not _hub_reachable():
        offline = True  # let `datasets` look in its local cache only, without network retries
    import datasets

    saved = datasets.config.HF_HUB_OFFLINE
    try:
        datasets.config.HF_HUB_OFFLINE = saved or offline
        ds = datasets.load_dataset(dataset, split="train")
        return [dict(row) for row in ds]
    except Exception as err:
        if offline:
            why = "the hub (huggingface.co) is not reachable from here and no cached copy exists"
        else:
            first = str(err).splitlines()[0][:200] if str(err) else ""
            why = f"{type(err).__name__}: {first}"
        raise CorpusSourceError(_hub_offline_message(dataset, why)) from None
    finally:
        datasets.config.HF_HUB_OFFLINE = saved
