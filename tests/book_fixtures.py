"""Build the book once per test process, shared by tests/test_book.py and tests/test_browser.py.

The book source is copied into a temporary directory (``<tmp>/book``, with ``<tmp>/gclib`` and
``<tmp>/notebooks`` linked to the repository so ``literalinclude`` and ``profiles.yaml`` resolve), its
pages are generated from a figures directory and it is built with ``-W -n``, then rebuilt with nothing
changed. Figures: the session's smoke run of every figure (``book_figures`` in tests/conftest.py), or
``GCLIB_BOOK_FIGURES`` (and the committed paper results from ``GCLIB_BOOK_PAPER``, default
``results/paper``); ``tests/fixtures/book_figure`` (one small executed notebook, see its
``make_fixture.py``) serves the tests of the generator that need no full run.
"""

from __future__ import annotations

import atexit
import html
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from ci_support import unavailable

REPO = Path(__file__).resolve().parents[1]
FIXTURE_FIGURES = REPO / "tests" / "fixtures" / "book_figure"


@dataclass(frozen=True)
class BuiltBook:
    root: Path  # <tmp>: holds book/, and links gclib/ and notebooks/
    book: Path  # <tmp>/book (the copied source)
    html: Path  # <tmp>/book/_build/html
    figures: Path  # the figures directory the pages were generated from
    cold_seconds: float  # first build
    warm_seconds: float  # rebuild with nothing changed
    warm_log: str  # the rebuild's log


_CACHE: dict[str, BuiltBook | Exception] = {}


def require_mathjax() -> None:
    js = REPO / "book" / "_static" / "mathjax" / "tex-mml-chtml.js"
    if not js.exists():
        unavailable("MathJax is not vendored (run `bash book/vendor_mathjax.sh`, or `make setup`)")


def copy_book(dest_root: Path) -> Path:
    """Copy book/ (without build outputs) into ``dest_root/book``; link gclib/ and notebooks/ beside it."""
    shutil.copytree(
        REPO / "book",
        dest_root / "book",
        ignore=shutil.ignore_patterns("_build", "_generated", "__pycache__", ".ipynb_checkpoints"),
    )
    for name in ("gclib", "notebooks"):
        if (REPO / name).exists():
            (dest_root / name).symlink_to(REPO / name, target_is_directory=True)
    return dest_root / "book"


def built_book(figures) -> BuiltBook:
    """The book built from the runner's outputs in ``figures`` (once per process; later calls reuse it)."""
    from gclib.companion.book.build import build_book

    figs = Path(figures).resolve()
    if not figs.is_dir():
        pytest.fail(f"the figures to build the book from are not a directory: {figs}")
    key = str(figs)
    if key not in _CACHE:
        require_mathjax()
        root = Path(tempfile.mkdtemp(prefix="gclib-book-"))
        if not os.environ.get("GCLIB_KEEP_BOOK"):  # set it to inspect the built book after the session
            atexit.register(shutil.rmtree, root, True)
        book = copy_book(root)
        t0 = time.perf_counter()
        paper = os.environ.get("GCLIB_BOOK_PAPER") or None
        try:
            html = build_book(book, figs, strict=True, paper_dir=paper)
        except Exception as err:  # every test that needs the book reports this one failure, no rebuild
            _CACHE[key] = err
            raise
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_book(book, figs, strict=True, paper_dir=paper)
        warm = time.perf_counter() - t0
        log = (book / "_build" / "build.log").read_text(encoding="utf-8")
        _CACHE[key] = BuiltBook(root, book, html, figs, cold, warm, log)
        print(f"\nbook built in {cold:.1f} s (no-change rebuild {warm:.1f} s) from {figs}: {html}")
    if isinstance(_CACHE[key], Exception):
        raise _CACHE[key]
    return _CACHE[key]


def html_pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def artifacts_dir() -> Path:
    path = Path(os.environ.get("GCLIB_ARTIFACTS") or REPO / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def strip_tags(text: str) -> str:
    """The visible text of a page (scripts and styles dropped, entities decoded, whitespace collapsed)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", text)))


def article_text(page: Path) -> str:
    """The visible text of a page's main article only (no navigation, no table of contents)."""
    text = page.read_text(encoding="utf-8")
    m = re.search(r"<article\b.*?</article>", text, flags=re.S)
    return strip_tags(m.group(0) if m else text)
