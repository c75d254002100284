"""The committed paper-scale results (results/paper/): the committed set is exactly the figures whose paper
profile fits the CPU, each is a successful paper-profile run with its provenance, per-run table, figure and
scorecard, none is stale (the code that produced its table is today's code), and the cheapest one
reproduces when rerun."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gclib.companion.cli import main
from gclib.companion.figures import fits_cpu, read_profiles
from gclib.companion.locations import results_dir
from gclib.companion.run import committed as results
from gclib.companion.run import run_figure

REPO = Path(__file__).resolve().parents[1]
COMMITTED = results.committed_results()
PROVENANCE_KEYS = {"figure", "profile", "parameters", "git_sha", "versions", "device", "threads", "start",
                   "end", "wall_seconds", "cache_key", "code_hash", "status"}


def test_the_committed_set_is_every_figure_that_fits_the_cpu():
    fits = fits_cpu()
    assert fits and sorted(COMMITTED) == sorted(fits), \
        "run `make paper-results` (or mark the figure in profiles.yaml)"
    profiles = read_profiles(REPO / "notebooks" / "profiles.yaml")
    for figure, entry in profiles.items():  # every figure says how it runs at the paper profile on the CPU
        cpu = entry.get("paper_cpu") or {}
        if figure in fits:
            assert isinstance(cpu.get("seconds"), (int, float)), f"{figure}: measured seconds missing"
        else:
            assert isinstance(cpu.get("est_minutes"), (int, float)) and cpu.get("why"), figure


@pytest.mark.parametrize("figure", sorted(COMMITTED))
def test_committed_result_is_current(figure):
    """A result whose code hash differs from today's is stale: regenerate it (`make paper-results`)."""
    status = COMMITTED[figure]
    assert not status.stale, status.describe()
    assert status.provenance["status"] == "success" and status.provenance["profile"] == "paper"
    assert status.ok


@pytest.mark.parametrize("figure", sorted(COMMITTED))
def test_committed_result_carries_its_provenance_table_and_figure(figure):
    d = COMMITTED[figure].directory
    prov = json.loads((d / f"{figure}.provenance.json").read_text())
    assert PROVENANCE_KEYS <= set(prov), PROVENANCE_KEYS - set(prov)
    assert prov["versions"]["torch"] and prov["versions"]["gclib"] and prov["threads"] >= 1
    assert prov["dry_run"] is False and prov["parameters"]["profile"] == "paper"
    card = json.loads((d / f"{figure}.scorecard.json").read_text())
    assert card["profile"] == "paper" and card["claims"]
    assert list(d.glob("*.png")) and list(d.glob("*.svg")), "the figure, PNG and SVG"
    assert list(d.glob("*.csv")), "the raw per-run table"
    nb = d / f"{figure}.ipynb"
    assert nb.stat().st_size <= 2 * 2**20, f"{nb.name} is {nb.stat().st_size / 2**20:.1f} MiB (limit 2)"
    assert not [p for p in d.rglob("*") if p.suffix in (".pkl", ".pickle", ".pt")], "no training pickles"
    tracked = {p.name for p in d.iterdir() if not p.name.startswith(".")}
    assert tracked <= {f"{figure}.ipynb", f"{figure}.provenance.json", f"{figure}.scorecard.json",
                       "discussion.md"} | {p.name for p in d.glob(f"{figure}*.png")} \
        | {p.name for p in d.glob(f"{figure}*.svg")} | {p.name for p in d.glob("*.csv")}, tracked


def _copy_result(tmp_path, figure="gr_hypersphere") -> Path:
    src = results_dir() / figure
    dst = tmp_path / figure
    shutil.copytree(src, dst)
    return tmp_path


def test_a_changed_code_hash_marks_the_result_stale_with_its_date_and_commit(tmp_path):
    root = _copy_result(tmp_path)
    prov_path = root / "gr_hypersphere" / "gr_hypersphere.provenance.json"
    prov = json.loads(prov_path.read_text())
    assert not results.committed_results(root)["gr_hypersphere"].stale
    prov["code_hash"] = "0" * 64
    prov_path.write_text(json.dumps(prov))
    status = results.committed_results(root)["gr_hypersphere"]
    assert status.stale and not status.ok
    text = status.describe()
    assert "STALE" in text and prov["start"][:10] in text and prov["git_sha"][:12] in text


def _notebook_with(tmp_path, edit) -> Path:
    nb = json.loads((REPO / "notebooks" / "gc_init_depth.ipynb").read_text())
    edit(nb["cells"])
    path = tmp_path / "gc_init_depth.ipynb"
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.parametrize("what, changes", [
    ("markdown", False), ("verdict", False), ("check", False), ("compute", True), ("parameters", True)])
def test_the_code_hash_covers_the_code_that_produced_the_table_only(tmp_path, what, changes):
    def edit(cells):
        def tagged(c, tag):
            return tag in c.get("metadata", {}).get("tags", [])

        if what == "markdown":
            cell = next(c for c in cells if c["cell_type"] == "markdown")
        elif what in ("verdict", "check", "parameters"):
            cell = next(c for c in cells if tagged(c, what))
        else:
            cell = next(c for c in cells if c["cell_type"] == "code" and "save_table" in "".join(c["source"]))
        cell["source"] = "".join(cell["source"]) + "\n# an edit\n"

    base = results.notebook_code_hash(REPO / "notebooks" / "gc_init_depth.ipynb")
    assert (results.notebook_code_hash(_notebook_with(tmp_path, edit)) != base) is changes


def test_fits_cpu_is_refused_outside_run_all_at_the_paper_profile(capsys):
    assert main(["run", "gr_hypersphere", "--profile", "paper", "--fits-cpu"]) == 2
    assert main(["run", "all", "--profile", "cpu", "--fits-cpu"]) == 2
    assert main(["run", "all", "--profile", "paper", "--fits-cpu", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all("--fits-cpu applies to `run all --profile paper` only" in line for line in err), err


def test_make_paper_results_finds_every_committed_result_in_its_cache():
    """`make paper-results` on this tree recomputes nothing: for every committed figure the job it prepares
    (paper profile, --device cpu, --threads 2) is a cache hit on the committed files — the same parameters,
    threads, notebook and code, verdict code included (after a change of the statistics, `make
    paper-results` rejudges from the tables and the refreshed files are committed). Checked without
    running anything."""
    from gclib.companion.figures import resolve_parameters
    from gclib.companion.run import cache_key

    make = (REPO / "Makefile").read_text()
    assert "run all --profile paper --fits-cpu --device cpu --threads 2 --jobs 1" in make
    for figure in fits_cpu():
        key = cache_key(figure, resolve_parameters(figure, "paper", None, "cpu"), profile="paper", threads=2)
        prov = COMMITTED[figure].provenance
        assert prov["status"] == "success" and prov["cache_key"] == key, \
            f"{figure}: not a cache hit: run `make paper-results` and commit"


@pytest.mark.notebooks
def test_the_cheapest_committed_figure_reproduces(tmp_path):
    """gr_hypersphere rerun at the paper profile (the committed thread count, on the CPU) gives the
    committed scorecard and tables: its numbers are closed forms and a seeded NumPy Monte Carlo, so they
    agree exactly (a relative 1e-12 is allowed for summation order on another BLAS)."""
    committed = results_dir() / "gr_hypersphere"
    prov = json.loads((committed / "gr_hypersphere.provenance.json").read_text())
    res = run_figure("gr_hypersphere", profile="paper", device="cpu", threads=prov["threads"],
                     out_dir=tmp_path)
    assert res.status == "ran", res.error
    new = json.loads(res.scorecard.read_text())
    old = json.loads((committed / "gr_hypersphere.scorecard.json").read_text())
    assert [c["claim_id"] for c in new["claims"]] == [c["claim_id"] for c in old["claims"]]
    for a, b in zip(new["claims"], old["claims"]):
        assert a["verdict"] == b["verdict"], a["claim_id"]
        assert a["statistic"] == pytest.approx(b["statistic"], rel=1e-12, abs=1e-15), a["claim_id"]
    for table in committed.glob("*.csv"):
        assert (res.directory / table.name).read_text() == table.read_text(), table.name
    assert json.loads(res.provenance.read_text())["code_hash"] == prov["code_hash"]


# ---------------------------------------------------------------- verdicts recomputed from the tables
def _edit_cell(nb_path: Path, tag: str | None, text: str) -> None:
    nb = json.loads(nb_path.read_text())
    if tag is None:
        cell = next(c for c in nb["cells"]
                    if c["cell_type"] == "code" and "save_table" in "".join(c["source"]))
    else:
        cell = next(c for c in nb["cells"] if tag in c.get("metadata", {}).get("tags", []))
    cell["source"] = "".join(cell["source"]) + text
    nb_path.write_text(json.dumps(nb))


@pytest.mark.notebooks
def test_a_verdict_change_rejudges_from_the_tables_and_a_table_change_reruns(tmp_path, warm_kernel):
    """An edit that cannot change a table (a verdict cell, the statistics) recomputes only the verdicts,
    from the tables the run saved; an edit of the code that makes the tables reruns the figure. (In the
    worker's warm kernel: what is checked is the runner's choice, not the kernel's start.)"""
    nbs = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", nbs, ignore=shutil.ignore_patterns("figures", ".*"))
    out = tmp_path / "out"
    first = run_figure("gr_hypersphere", out_dir=out, notebooks_dir=nbs, kernel=warm_kernel)
    assert first.status == "ran", first.error
    card = json.loads(first.scorecard.read_text())
    _edit_cell(nbs / "gr_hypersphere.ipynb", "verdict", "\nprint('verdicts rejudged')\n")
    judged = run_figure("gr_hypersphere", out_dir=out, notebooks_dir=nbs, kernel=warm_kernel)
    assert judged.status == "rejudged"
    assert json.loads(judged.scorecard.read_text()) == card
    prov = json.loads(judged.provenance.read_text())
    assert prov["rejudged"]["at"] and prov["cache_key"] == judged.cache_key != first.cache_key
    assert prov["wall_seconds"] == json.loads(first.provenance.read_text())["wall_seconds"]
    text = judged.notebook.read_text()
    assert "verdicts rejudged" in text and "print('verdicts rejudged')" in text
    assert run_figure("gr_hypersphere", out_dir=out, notebooks_dir=nbs, kernel=warm_kernel).status == "cached"
    _edit_cell(nbs / "gr_hypersphere.ipynb", None, "\n# the table's code changed\n")
    assert run_figure("gr_hypersphere", out_dir=out, notebooks_dir=nbs, kernel=warm_kernel).status == "ran"


# ---------------------------------------------------------------- a committed result is its tables
@pytest.mark.notebooks
@pytest.mark.parametrize("figure", sorted(COMMITTED))
def test_a_committed_result_is_re_derived_from_its_committed_tables(figure, tmp_path, warm_kernel):
    """Every table has the sha256 its run recorded, and the scorecard recomputed from the tables by today's
    verdict code (in the worker's warm kernel) is the committed one, claim by claim: a hand edit of either
    fails here."""
    from gclib.companion.run.verify import check_tables, rederive

    d = COMMITTED[figure].directory
    assert check_tables(d) == []
    assert rederive(d, tmp_path, kernel=warm_kernel) == []


@pytest.mark.notebooks
def test_a_hand_edited_table_or_scorecard_fails_the_integrity_check(tmp_path, warm_kernel):
    from gclib.companion.run.verify import check_tables, rederive

    root = _copy_result(tmp_path / "copy")
    d = root / "gr_hypersphere"
    assert check_tables(d) == []  # as committed: it passes
    assert rederive(d, tmp_path / "work", kernel=warm_kernel) == []
    table = d / "gr_hypersphere_mc.csv"
    original = table.read_text()
    rows = original.splitlines()
    cells = rows[1].split(",")
    cells[1] = "0.5"  # the first Monte Carlo estimate, edited by hand
    table.write_text("\n".join([rows[0], ",".join(cells), *rows[2:]]) + "\n")
    assert any("gr_hypersphere_mc.csv has sha256" in line for line in check_tables(d))
    # the verdicts recomputed from the edited table differ
    assert rederive(d, tmp_path / "work2", kernel=warm_kernel)
    table.write_text(original)
    card_path = d / "gr_hypersphere.scorecard.json"
    card = json.loads(card_path.read_text())
    card["claims"][0]["statistic"] = card["claims"][0]["statistic"] + 1.0
    card_path.write_text(json.dumps(card))
    assert check_tables(d) == []  # the tables are fine again ...
    diff = rederive(d, tmp_path / "work3", kernel=warm_kernel)  # ... but the scorecard is not what they say
    assert diff and diff[0].startswith(f"{card['claims'][0]['claim_id']}.statistic: committed")


def test_a_committed_result_records_only_its_own_codes_changes_as_dirty():
    from gclib.companion.run.provenance import code_dirty

    for figure, status in COMMITTED.items():
        prov = status.provenance
        assert prov.get("git_dirty") is False and prov.get("git_dirty_files") == [], \
            f"{figure}: made with uncommitted changes to its code: {prov.get('git_dirty_files')}"
    dirty = code_dirty(REPO, REPO / "notebooks" / "gr_hypersphere.ipynb")
    assert dirty is None or all(not f.startswith("results/") for f in dirty)


def test_only_notebooks_whose_verdicts_read_their_tables_are_rejudged():
    from gclib.companion.run.rejudge import verdicts_from_tables

    marked = {p.stem for p in (REPO / "notebooks").glob("*.ipynb") if verdicts_from_tables(p)}
    assert set(fits_cpu()) <= marked  # every committed figure can be rejudged
    assert "gc_l2" not in marked  # its verdict cells use the kernel's training runs: a change reruns it


def test_readme_cost_table_has_each_committed_paper_figure_with_its_measured_wall_time():
    """The README's cost table quotes every committed paper result's wall time from its provenance."""
    from gclib.companion.format import wall

    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## What it costs here"):readme.index("## Performance")]
    for figure, status in COMMITTED.items():
        row = next((line for line in table.splitlines() if f"`{figure}` at the paper profile" in line), None)
        assert row is not None, f"README cost table: no row for {figure}"
        assert row.rstrip(" |").endswith(wall(status.provenance["wall_seconds"])), (row, status.provenance)
