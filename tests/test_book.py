"""The Jupyter Book: page generation from runner outputs, and a -W -n build checked for broken links,
remote assets and missing content. The build is shared with tests/test_browser.py (tests/book_fixtures.py)."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from book_fixtures import REPO, article_text, built_book, copy_book, html_pages, strip_tags

from gclib.companion.book import build as bookgen
from gclib.companion.errors import BookBuildError

pytestmark = pytest.mark.book

FIXTURE = REPO / "tests" / "fixtures" / "book_figure"


# ------------------------------------------------------------------------------------------ HTML helpers
class _Refs(HTMLParser):
    """Every href/src of a page by tag, and every id/name anchor it defines."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: set[str] = set()
        self.rels: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src", "srcset"):  # srcset: the forest plot's SVG (one URL, no descriptors)
            if a.get(key) is not None:
                self.refs.append((tag, key, a[key]))
                if tag == "link":
                    self.rels[a[key]] = a.get("rel") or ""


_PARSED: dict[Path, _Refs] = {}


def _parse(path: Path) -> _Refs:
    if path not in _PARSED:
        p = _Refs()
        p.feed(path.read_text(encoding="utf-8", errors="replace"))
        _PARSED[path] = p
    return _PARSED[path]


def _is_remote(url: str) -> bool:
    return bool(re.match(r"^(https?:)?//", url.strip(), flags=re.I))


def _local_target(page: Path, url: str) -> tuple[Path, str] | None:
    """(file, fragment) of a relative link, or None for remote / special schemes."""
    parts = urlsplit(url)
    if parts.scheme or url.startswith("//"):
        return None
    if not parts.path:
        return page, unquote(parts.fragment)
    target = (page.parent / unquote(parts.path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def _figure_ids(figs: Path) -> list[str]:
    return sorted(d.name for d in figs.iterdir() if d.is_dir() and (d / f"{d.name}.ipynb").exists())


# ------------------------------------------------------------------------------------------ the built book
@pytest.fixture(scope="module")
def book(book_figures):
    return built_book(book_figures)


def test_build_succeeds_with_warnings_as_errors(book):
    assert (book.html / "index.html").exists()
    assert (book.html / "intro.html").exists()
    log = (book.book / "_build" / "build.log").read_text()
    assert " -W -n" in log.splitlines()[0]  # the command really ran strict
    assert "build succeeded" in log


def test_no_change_rebuild_is_incremental(book):
    """Regenerating unchanged pages must not touch them: Sphinx reads no document again."""
    print(f"cold build {book.cold_seconds:.1f} s, no-change rebuild {book.warm_seconds:.1f} s")
    m = re.search(r"updating environment: .*?(\d+) added, (\d+) changed, (\d+) removed", book.warm_log)
    assert m, book.warm_log[-2000:]
    reread = re.findall(r"reading sources\.\.\. \[\s*\d+%\] (\S+)", book.warm_log)
    assert m.groups() == ("0", "0", "0"), f"{m.group(0)}: {reread} (a gclib module edited meanwhile?)"


def test_landing_page_content(book):
    text = article_text(book.html / "intro.html")
    for needle in (
        "make book",
        "make test",
        "gclib run FIGURE -p NAME VALUE",
        "@inproceedings{dherin2022",
        "@misc{teague2022",
        "@misc{gclib2024",
        "figures (book)",
        "claims at the paper profile",
    ):
        assert needle in text, needle
    # the at-a-glance include counts the checked claims of each paper (and of both, when there are two),
    # protocol v1 and v2 apart: "v1: 5 ✓ 2 ✗ · v2: …", in the row of that paper
    claims = {}
    for f in book.figures.glob("*/*.scorecard.json"):
        data = json.loads(f.read_text())
        claims.setdefault(data["figure"].split("_")[0], []).extend(data["claims"])
    glance = text[text.index("The scorecard at a glance") : text.index("How to rerun")]
    names = {"gc": "Dherin et al. 2022", "gr": "Teague 2022"}

    def counts(cs):
        judged = [c for c in cs if c.get("direction") != "context" and c.get("reason") is None
                  and c.get("verdict") != "n/a"]
        out = []
        for p in ("v1", "v2"):
            ok = sum(c.get("protocol", "v1") == p and bool(c["passed"]) for c in judged)
            bad = sum(c.get("protocol", "v1") == p and not c["passed"] for c in judged)
            if any(c.get("protocol", "v1") == p for c in cs if c.get("direction") != "context"):
                out.append(rf"{p}: {ok} ✓ {bad} ✗")
        return out

    for prefix, cs in claims.items():
        row = re.search(rf"{names[prefix]} .*?(?=Dherin et al|Teague 2022|both papers|v1, v2 and post-hoc)",
                        glance).group(0)
        for part in counts(cs):
            assert part in row, (part, row)
    if len(claims) > 1:
        row = glance[glance.index("both papers"):]
        for part in counts([c for v in claims.values() for c in v]):
            assert part in row, (part, row)


def _cards(figs: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(figs.glob("*/*.scorecard.json"))]


def _paper_dir() -> Path:
    from gclib.companion.locations import results_dir

    return Path(os.environ.get("GCLIB_BOOK_PAPER") or results_dir())


def _same_number(text: str, value) -> bool:
    if value is None:
        return text == ""
    if isinstance(value, float) and math.isnan(value):
        return text in ("", "nan")
    if text in ("inf", "-inf"):
        return float(text) == value
    return math.isclose(float(text), float(value), rel_tol=1e-12, abs_tol=0.0)


def test_scorecard_downloads_hold_every_claim(book):
    """The scorecard page links one CSV and one JSON per profile (the book's and the paper's); the files are
    in the build, their columns are the documented ones, and their rows are the scorecard JSON's claims,
    value for value."""
    from gclib.companion.book.paper import discover_paper
    from gclib.companion.book.scorecard import COLUMNS
    from gclib.companion.kernel.judge.verdicts import verdict

    page = book.html / "_generated" / "scorecard.html"
    hrefs = {v for t, k, v in _parse(page).refs if t == "a" and k == "href"}
    cards = _cards(book.figures)
    profile = {c["profile"] for c in cards}
    profile = profile.pop() if len(profile) == 1 else "book"
    current = {f: p for f, p in discover_paper(_paper_dir()).items() if p.current}
    expect = {profile: [(d["figure"], c) for d in cards for c in d["claims"]],
              "paper": [(f, c) for f, p in current.items() for c in p.run.claims]}
    text = strip_tags(page.read_text())
    for name in COLUMNS:
        assert name in text, f"column {name} is not described on the page"
    for prof, claims in expect.items():
        for fmt in ("csv", "json"):
            href = f"../extra/data/scorecard-{prof}.{fmt}"
            assert href in hrefs, f"the scorecard page does not link {href}"
            assert (page.parent / href).resolve().is_file(), href
        data = (page.parent / f"../extra/data/scorecard-{prof}.csv").resolve().read_text(encoding="utf-8")
        rows = list(csv.DictReader(data.splitlines()))
        assert data.splitlines()[0].split(",") == list(COLUMNS)
        records = json.loads((page.parent / f"../extra/data/scorecard-{prof}.json").resolve().read_text())
        assert len(rows) == len(records) == len(claims), prof
        by_id = {(r["figure"], r["claim_id"]): r for r in rows}
        for (fid, c), rec in zip(sorted(claims, key=lambda x: (x[0], x[1]["claim_id"])),
                                 sorted(records, key=lambda r: (r["figure"], r["claim_id"]))):
            row = by_id[(fid, c["claim_id"])]
            assert rec["claim_id"] == c["claim_id"] and row["profile"] == prof
            assert row["verdict"] == rec["verdict"] == verdict(c), (fid, c["claim_id"])
            assert _same_number(row["statistic"], c.get("statistic")), (fid, c["claim_id"], row["statistic"])
            page_stats = (c.get("stats") or {}).get("page") or {}
            assert _same_number(row["page_p"], page_stats.get("p")), (fid, c["claim_id"])


def test_claims_link_both_ways_and_keep_their_details(book):
    """Each claim's row on the scorecard opens its dropdown there, which links the claim's dropdown on its
    figure page, which links back; every detail the old wide tables showed is in the dropdowns: the
    description, protocol, threshold, interval, and for ordered-grid claims Page's test, the per-block ρ
    and (on the scorecard) Holm's p."""
    from gclib.companion.book.scorecard import claim_anchor

    score = book.html / "_generated" / "scorecard.html"
    sp = _parse(score)
    s_hrefs = {v for t, k, v in sp.refs if t == "a" and k == "href"}
    s_text = strip_tags(score.read_text()).replace("’", "'")
    seen = []
    for card in _cards(book.figures):
        fid = card["figure"]
        fig = book.html / "_generated" / "pages" / f"{fid}.html"
        fp = _parse(fig)
        f_hrefs = {v for t, k, v in fp.refs if t == "a" and k == "href"}
        f_text = strip_tags(fig.read_text()).replace("’", "'")
        assert f"../../extra/forest/{fid}.svg" in {v for t, k, v in fp.refs if k == "srcset"}, fid
        for c in card["claims"]:
            cid = c["claim_id"]
            seen.append(cid)
            on_score, on_fig = claim_anchor(cid, "scorecard"), claim_anchor(cid, "figure")
            assert on_score in sp.ids and on_fig in fp.ids, cid
            assert f"#{on_score}" in s_hrefs and f"#{on_fig}" in f_hrefs, cid  # row → its dropdown
            assert f"pages/{fid}.html#{on_fig}" in s_hrefs, cid  # scorecard → figure page
            assert f"../scorecard.html#{on_score}" in f_hrefs, cid  # figure page → scorecard
            for text in (s_text, f_text):
                assert " ".join(c.get("description", "").split()) in text, (fid, cid)
                assert f"protocol {c.get('protocol', 'v1')}" in text, (fid, cid)
            if (c.get("stats") or {}).get("page"):
                for needle in ("Trend test (Page's L, one-sided)", "Per-block ρ"):
                    assert needle in s_text and needle in f_text, (fid, cid, needle)
                assert "Holm-adjusted p" in s_text
    assert len(seen) == len(set(seen)), "two claims share an id: their dropdowns would share an anchor"
    assert "../extra/forest/scorecard.svg" in {v for t, k, v in sp.refs if k == "srcset"}


def test_figure_pages(book):
    figs = _figure_ids(book.figures)
    assert figs
    for fid in figs:
        page = book.html / "_generated" / "pages" / f"{fid}.html"
        assert page.exists(), fid
        text = strip_tags(page.read_text())
        prov = json.loads((book.figures / fid / f"{fid}.provenance.json").read_text())
        for needle in (
            "Reproduction record",
            "Parameters",
            "Provenance",
            "Scorecard verdicts",
            f"gclib run {fid} --profile",
            "executed notebook",
        ):
            assert needle in text, (fid, needle)
        if prov.get("git_sha"):
            assert prov["git_sha"][:12] in text
        for name in prov.get("parameters", {}):
            assert name in text, (fid, name)
        # the downloadable copy of the executed notebook is in the build
        assert any(book.html.glob(f"_downloads/*/{fid}.ipynb")), fid
        # the figure itself is on the page
        assert "<img" in page.read_text(), fid


def test_paper_results_are_shown_beside_the_book_profile(book):
    """Each figure page has an "At paper scale" section: the committed paper result (its figure, verdicts
    beside the book's, device, date and wall time) or, where none is committed, that it needs a GPU with
    the command; the scorecard page and the landing table have a paper-profile column with counts."""
    from gclib.companion.run.committed import committed_results

    committed = committed_results(_paper_dir())
    assert committed, "results/paper holds no committed result"
    for fid in _figure_ids(book.figures):
        page = book.html / "_generated" / "pages" / f"{fid}.html"
        text = strip_tags(page.read_text())
        assert "At paper scale" in text, fid
        if fid in committed:
            prov = committed[fid].provenance
            for needle in (f"results/paper/{fid}/", "current", prov["start"][:10], prov["git_sha"][:12],
                           "Per-run table", "paper profile", "make paper-results"):
                assert needle in text, (fid, needle)
            assert f"{fid} at the paper profile" in text, fid  # the paper figure's caption
        else:
            assert "Needs a GPU" in text and f"gclib run {fid} --profile paper --device cuda" in text, fid
    card = strip_tags((book.html / "_generated" / "scorecard.html").read_text())
    assert "paper profile" in card and "At the paper profile" in card
    n_paper = sum(len(json.loads((r.directory / f"{f}.scorecard.json").read_text())["claims"])
                  for f, r in committed.items())
    assert f"{n_paper} claims from {len(committed)} figures" in card
    intro = article_text(book.html / "intro.html")
    assert "figures (paper)" in intro and f"{len(committed)} of 15" in intro
    gpu = strip_tags((book.html / "howto" / "gpu.html").read_text())
    assert "make paper-results" in gpu and all(f in gpu for f in committed)


def test_gallery_links_and_thumbnails(book):
    gallery = book.html / "_generated" / "gallery.html"
    refs = _parse(gallery)
    figs = _figure_ids(book.figures)
    hrefs = [v for t, k, v in refs.refs if t == "a" and k == "href"]
    for fid in figs:
        assert any(h.split("#")[0].endswith(f"pages/{fid}.html") for h in hrefs), fid
    imgs = [v for t, k, v in refs.refs if t == "img"]
    assert len(imgs) >= len([f for f in figs if list((book.figures / f).glob("*.png"))])
    for src in imgs:
        target, _ = _local_target(gallery, src)
        assert target.exists() and target.stat().st_size > 0, src


def test_all_internal_links_and_anchors_resolve(book):
    broken = []
    for page in html_pages(book.html):
        for tag, attr, url in _parse(page).refs:
            if not url or url.startswith(("mailto:", "javascript:", "data:")):
                continue
            local = _local_target(page, url)
            if local is None:
                continue
            target, fragment = local
            if not target.exists():
                broken.append(f"{page.relative_to(book.html)}: <{tag} {attr}={url!r}> → missing file")
            elif fragment and target.suffix == ".html" and fragment not in _parse(target).ids:
                broken.append(f"{page.relative_to(book.html)}: <{tag} {attr}={url!r}> → missing anchor")
    assert not broken, "\n".join(broken[:30])


def test_no_remote_assets(book):
    remote = []
    for page in html_pages(book.html):
        p = _parse(page)
        for tag, attr, url in p.refs:
            if tag in ("script", "img", "iframe", "source", "video", "audio", "embed") and _is_remote(url):
                remote.append(f"{page.relative_to(book.html)}: <{tag} {attr}={url}>")
            if tag == "link" and _is_remote(url) and not re.search(r"\bcanonical\b", p.rels.get(url, "")):
                remote.append(f"{page.relative_to(book.html)}: <link href={url}>")
    # CSS must not pull fonts or imports from the network either
    for css in book.html.glob("_static/**/*.css"):
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text(errors="replace")):
            if _is_remote(url):
                remote.append(f"{css.relative_to(book.html)}: url({url})")
        for url in re.findall(r"@import\s+(?:url\()?['\"]?([^'\")\s;]+)", css.read_text(errors="replace")):
            if _is_remote(url):
                remote.append(f"{css.relative_to(book.html)}: @import {url}")
    assert not remote, "\n".join(remote[:30])
    intro = (book.html / "intro.html").read_text()
    assert "_static/mathjax/tex-mml-chtml.js" in intro


def test_theory_pages_include_library_code(book):
    gc = strip_tags((book.html / "theory" / "geometric_complexity.html").read_text())
    gr = strip_tags((book.html / "theory" / "geometric_regularization.html").read_text())
    for name in ("geometric_complexity", "spectral_norm_bound", "parameter_norm_bound", "gc_penalty"):
        assert f"def {name}" in gc, name
    for name in (
        "log_volume",
        "peak_volume_dimension",
        "shell_fraction",
        "typical_norm_log_volume",
        "mode_dominance",
    ):
        assert f"def {name}" in gr, name
    for tag in ("[paper]", "[ours]"):
        assert tag in gc and tag in gr


def test_api_reference_documents_public_functions(book):
    """Each API page documents its modules' public functions, following the three wings."""
    expected = {  # page -> {module: names}
        "complexity": {"complexity": ["geometric_complexity", "gc_penalty", "spectral_norm_bound"]},
        "curvature": {"curvature": ["sharpness", "gn_penalty"], "linalg": ["top_eigenpair"]},
        "hypersphere": {"hypersphere": ["log_volume", "peak_volume_dimension", "monte_carlo_ball_fraction"]},
        "sampling": {"sampling": ["init_std", "sample_init_losses"], "dominance": ["mode_dominance"]},
        "stats": {"stats.basic": ["bootstrap_ci", "spearman"], "stats.seed_means": ["seed_mean_spearman"],
                  "stats.strength": ["page_trend", "holm", "page_floor"]},
        "train": {"experiments.train": ["train"], "experiments.runs": ["run_grid", "run_config"],
                  "experiments.readings": ["crossings"], "experiments.cache": ["cache_key"]},
        "judge": {"companion.kernel.judge.claims": ["Scorecard"]},
        "draw": {"companion.kernel.draw.style": ["savefig"],
                 "companion.kernel.draw.regimes": ["plot_regime_map"]},
        "run": {"companion.run.runner": ["run_figure"], "companion.run.parallel": ["run_all", "sweep"],
                "companion.run.warm": ["WarmKernel"],
                "companion.run.committed": ["code_hash", "committed_results"],
                "companion.run.rejudge": ["rejudge"], "companion.run.verify": ["rederive"]},
        "figures": {"companion.figures.resolve": ["resolve_parameters"],
                    "companion.figures.check": ["check_parameters"]},
        "book": {"companion.book.forest": ["draw_forest", "forest_files"],
                 "companion.book.scorecard": ["scorecard_page", "scorecard_rows"],
                 "companion.book.prose": ["render"]},
    }
    for page_name, modules in expected.items():
        page = (book.html / "api" / f"{page_name}.html").read_text()
        for module, names in modules.items():
            documented = set(re.findall(r'<dt class="sig sig-object py" id="gclib\.' + re.escape(module)
                                        + r'\.([\w.]+)"', page))
            for name in names:
                assert name in documented, (page_name, module, name, sorted(documented)[:20])
    index = strip_tags((book.html / "api" / "index.html").read_text())
    for module in ("gclib.complexity", "gclib.sampling", "gclib.stats", "gclib.experiments.train",
                   "gclib.experiments.runs", "gclib.companion.kernel.judge", "gclib.companion.run"):
        assert module in index
    assert "one house with three wings" in index.lower()


def test_bibliography_and_howto_pages(book):
    bib = strip_tags((book.html / "bibliography.html").read_text()).lower()
    for needle in (
        "Dherin",
        "Teague",
        "Implicit gradient regularization",
        "Bishop",
        "Glorot",
        "Delving deep",
        "Efficient",
        "Reconciling",
        "Deep double descent",
        "Neural collapse",
        "Jacobian",
        "Smith",
    ):
        assert needle.lower() in bib, needle
    gpu = strip_tags((book.html / "howto" / "gpu.html").read_text())
    for needle in (
        "gclib run all --profile paper --device auto",
        "dask scheduler",
        "--nthreads 1",
        "--scheduler tcp://HOST:8786",
    ):
        assert needle in gpu, needle
    rerun = strip_tags((book.html / "howto" / "rerun.html").read_text())
    assert "gclib sweep" in rerun and "Unknown parameter" in rerun  # the CLI's ERROR_TABLE is included


# ------------------------------------------------------------------------------------------ generation only
@pytest.fixture
def small_book(tmp_path):
    """A copied book source and a figures dir with the fixture figure (no build)."""
    book = copy_book(tmp_path)
    figs = tmp_path / "figures"
    shutil.copytree(FIXTURE / "gr_hypersphere", figs / "gr_hypersphere")
    return book, figs


PROFILES = {
    "gr_hypersphere": {
        "paper": "teague2022",
        "family": "H-1",
        "title": "Hypersphere volume",
        "claim": "V_n tends to 0.",
        "est_seconds": {"smoke": 5, "cpu": 10, "paper": 30},
    },
    "gr_width": {
        "paper": "teague2022",
        "family": "E-3",
        "title": "Mode dominance vs width",
        "claim": "Wider nets lean to the zero mode.",
        "est_seconds": {"smoke": 20, "cpu": 300, "paper": 3600},
        "est_memory_gb": {"paper": 12},
    },
    "gc_l2": {
        "paper": "dherin2022",
        "family": "G2",
        "title": "L2 lowers GC",
        "claim": "L2 lowers GC.",
        "est_seconds": {"smoke": 20, "cpu": 150, "paper": 1800},
    },
}


def test_generate_pages_lists_only_existing_figures(small_book):
    book, figs = small_book
    paths = bookgen.generate_pages(book, figs, profiles=PROFILES)
    gen = book / "_generated"
    assert gen / "pages" / "gr_hypersphere.ipynb" in paths
    assert not (gen / "pages" / "gr_width.ipynb").exists()
    toc = (gen / "_toc.yml").read_text()
    assert "_generated/pages/gr_hypersphere" in toc and "gr_width" not in toc
    gallery = (gen / "gallery.md").read_text()
    assert ":link: /_generated/pages/gr_hypersphere" in gallery
    assert "*Not yet generated*" in gallery and "gclib run gr_width --profile cpu" in gallery
    assert gallery.index("Dherin") < gallery.index("Teague")  # papers in a fixed order
    table = (gen / "include" / "family_table.md").read_text()
    assert "E-3" in table and "`gr_width` (not yet generated)" in table
    times = (gen / "include" / "paper_times.md").read_text()
    assert "60 min" in times and "1.5 h" in times and "12 GB" in times and "**all**" in times
    assert "Unknown figure" in (gen / "include" / "cli_errors.md").read_text()


def test_figure_page_is_the_notebook_with_a_record_cell(small_book):
    book, figs = small_book
    bookgen.generate_pages(book, figs, profiles=PROFILES)
    src = json.loads((figs / "gr_hypersphere" / "gr_hypersphere.ipynb").read_text())
    page = json.loads((book / "_generated" / "pages" / "gr_hypersphere.ipynb").read_text())
    assert len(page["cells"]) == len(src["cells"]) + 1
    assert page["cells"][0]["source"] == src["cells"][0]["source"]
    record = "".join(page["cells"][1]["source"])
    assert page["cells"][1]["metadata"]["tags"] == ["gclib-book-record"]
    for needle in (
        "### Scorecard verdicts",
        "### Parameters",
        "### Provenance",
        "`mc_points`",
        "`20000`",
        "H-1.volume_vanishes",
        "gclib run gr_hypersphere --profile smoke",
        "-p radii",
        "{download}`executed notebook <../assets/gr_hypersphere/gr_hypersphere.ipynb>`",
        "**Claim** (Teague 2022, family H-1)",
    ):
        assert needle in record, needle
    assert [c["source"] for c in page["cells"][2:]] == [c["source"] for c in src["cells"][1:]]


def test_unchanged_pages_are_not_rewritten(small_book):
    book, figs = small_book
    paths = bookgen.generate_pages(book, figs, profiles=PROFILES)
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    os.utime(figs / "gr_hypersphere" / "gr_hypersphere.ipynb")  # touched, same content
    again = bookgen.generate_pages(book, figs, profiles=PROFILES)
    assert sorted(again) == sorted(paths)
    assert {p: p.stat().st_mtime_ns for p in again} == stamps


def test_removed_figure_is_pruned(small_book):
    book, figs = small_book
    bookgen.generate_pages(book, figs, profiles=PROFILES)
    shutil.rmtree(figs / "gr_hypersphere")
    bookgen.generate_pages(book, figs, profiles=PROFILES)
    gen = book / "_generated"
    assert not (gen / "pages" / "gr_hypersphere.ipynb").exists()
    assert not (gen / "assets" / "gr_hypersphere").exists()
    assert "No scorecard has been generated yet" in (gen / "scorecard.md").read_text()


def test_failed_run_is_flagged_and_markdown_is_escaped(small_book):
    book, figs = small_book
    d = figs / "gr_hypersphere"
    prov = json.loads((d / "gr_hypersphere.provenance.json").read_text())
    prov.update(status="failed", error="cell 3 raised ValueError: n | m")
    (d / "gr_hypersphere.provenance.json").write_text(json.dumps(prov))
    bookgen.generate_pages(book, figs, profiles=PROFILES)
    record = "".join(
        json.loads((book / "_generated" / "pages" / "gr_hypersphere.ipynb").read_text())["cells"][1]["source"]
    )
    assert ":::{warning}" in record and r"n \| m" in record
    card = (book / "_generated" / "scorecard.md").read_text()
    assert r"\|Monte Carlo − formula\|" in card  # a pipe in a description does not split the table row
    assert "Runs that did not finish" in card


def test_paper_profile_pages_carry_the_gpu_note(small_book):
    book, figs = small_book
    path = figs / "gr_hypersphere" / "gr_hypersphere.provenance.json"
    prov = json.loads(path.read_text())
    prov["profile"] = "paper"
    path.write_text(json.dumps(prov))
    bookgen.generate_pages(book, figs, profiles=PROFILES)
    page = json.loads((book / "_generated" / "pages" / "gr_hypersphere.ipynb").read_text())
    record = "".join(page["cells"][1]["source"])
    assert "```{include} ../../_includes/gpu_admonition.md" in record
    assert (book / "_generated" / "pages" / "../../_includes/gpu_admonition.md").resolve().exists()


def test_corrupt_json_is_an_error(small_book):
    book, figs = small_book
    (figs / "gr_hypersphere" / "gr_hypersphere.scorecard.json").write_text("{not json")
    with pytest.raises(BookBuildError, match="not valid JSON"):
        bookgen.generate_pages(book, figs, profiles=PROFILES)


def test_build_book_reports_failures_with_the_log_tail(small_book):
    book, figs = small_book
    # a two-page book (fast) whose landing page has a broken reference: -W must turn it into a failure
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- file: _generated/gallery\n")
    (book / "intro.md").write_text("# Intro\n\nSee {doc}`no_such_page`.\n")
    if not (book / "_static" / "mathjax" / "tex-mml-chtml.js").exists():
        pytest.skip("MathJax not vendored")
    with pytest.raises(BookBuildError, match="no_such_page"):
        bookgen.build_book(book, figs, profiles=PROFILES)
