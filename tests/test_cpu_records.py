"""The committed cpu-profile records (results/cpu/): one per figure, each a successful cpu-profile run with
its provenance, scorecard and tables (the executed notebooks and images are not committed), none stale,
every table the one its run hashed, and each a cache hit for `make cpu-results`. The figure pages'
discussions of the cpu profile take their numbers from these records (tests/test_prose_numbers.py)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gclib.companion.figures import list_figures
from gclib.companion.run import committed as results

REPO = Path(__file__).resolve().parents[1]
RECORDS = results.committed_results(profile="cpu")


def test_every_figure_has_a_cpu_record():
    assert sorted(RECORDS) == sorted(f.id for f in list_figures()), \
        "run `make cpu-results` and commit results/cpu"


@pytest.mark.parametrize("figure", sorted(RECORDS))
def test_cpu_record_is_current_and_complete(figure):
    status = RECORDS[figure]
    assert not status.stale, status.describe() + " (regenerate with `make cpu-results`)"
    prov = status.provenance
    assert prov["status"] == "success" and prov["profile"] == "cpu" and prov["dry_run"] is False
    assert prov["git_dirty"] is False, f"{figure}: made with uncommitted changes: {prov['git_dirty_files']}"
    d = status.directory
    card = json.loads((d / f"{figure}.scorecard.json").read_text())
    assert card["profile"] == "cpu" and card["claims"]
    tables = sorted(p.name for p in d.glob("*.csv"))
    assert tables and sorted(prov["tables"]) == tables, (tables, sorted(prov["tables"]))
    assert (d / "discussion.md").is_file(), f"{figure}: no discussion of the cpu profile"


@pytest.mark.parametrize("figure", sorted(RECORDS))
def test_cpu_record_tables_have_their_recorded_hashes(figure):
    from gclib.companion.run.verify import check_tables

    assert check_tables(RECORDS[figure].directory) == []


def test_only_the_records_are_committed():
    tracked = subprocess.run(["git", "ls-files", "results/cpu"], cwd=REPO, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    names = tracked.stdout.split()
    assert names, "results/cpu holds no committed file"
    assert not [n for n in names if n.endswith((".ipynb", ".png", ".svg", ".pkl", ".pt"))], names


def test_make_cpu_results_finds_every_record_in_its_cache():
    """`make cpu-results` on this tree recomputes nothing: each record's cache key is the one the job it
    prepares would have (cpu profile, --device cpu, --threads 1)."""
    from gclib.companion.figures import resolve_parameters
    from gclib.companion.run import cache_key

    make = (REPO / "Makefile").read_text()
    assert "run all --profile cpu --device cpu --threads 1 --jobs 1 --out results/cpu" in make
    for figure, status in RECORDS.items():
        key = cache_key(figure, resolve_parameters(figure, "cpu", None, "cpu"), profile="cpu", threads=1)
        assert status.provenance["cache_key"] == key, f"{figure}: not a cache hit: run `make cpu-results`"


def test_readme_counts_the_cpu_verdicts_of_the_records():
    """README's sentence "At the cpu profile (…) a of b protocol-v1 claims reproduce, c of d protocol-v2 …,
    e of f post-hoc …; g could not be judged" is the tally of the committed cpu scorecards."""
    import re

    from gclib.companion.kernel.judge.verdicts import tally

    claims = [c for s in RECORDS.values()
              for c in json.loads((s.directory / f"{s.figure}.scorecard.json").read_text())["claims"]]
    t = tally(claims)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"At the cpu profile \(the committed records in `results/cpu`[^)]*\) (\d+) of (\d+) "
                  r"protocol-v1 claims\s+reproduce, (\d+) of (\d+) protocol-v2 claims \(fixed 2026-11-28\) "
                  r"and (\d+) of (\d+)\s+post-hoc checks.*?; (\d+) could not be judged", readme, flags=re.S)
    assert m, "README: the cpu-profile tally sentence is missing or reworded"
    got = [int(g) for g in m.groups()]
    want = [t["v1"][0], sum(t["v1"]), t["v2"][0], sum(t["v2"]), t["post-hoc"][0], sum(t["post-hoc"]),
            sum(t["n/a"].values())]
    assert got == want, f"README says {got}, the records {want}"
