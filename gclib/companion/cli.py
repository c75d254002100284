"""``gclib list | params | run | sweep | book``: rerun any figure notebook with new parameters.

A thin layer over :mod:`gclib.companion.run` and :mod:`gclib.companion.book`: argument parsing, tables,
messages and exit codes (0 ok, 1 a notebook failed, 2 bad input — detected before any notebook starts; the
cases: ``gclib.companion.errors.ERROR_TABLE``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gclib.companion import figures
from gclib.companion.book.index import notebooks_readme
from gclib.companion.errors import ERROR_TABLE, ParameterError, RunError
from gclib.companion.format import seconds, text_table
from gclib.companion.kernel.judge.verdicts import fraction_text
from gclib.companion.locations import default_out_dir, notebook_directory, repo_root, results_dir
from gclib.companion.outputs import read_json
from gclib.companion.run import parallel, runner
from gclib.companion.run.job import DEFAULT_THREADS, figure_dir

__all__ = ["main"]


_EXAMPLES = {
    "list": "examples:\n  gclib list\n  gclib list --readme    # rewrite notebooks/README.md",
    "params": "examples:\n  gclib params gc_l2",
    "run": """examples:
  gclib run gc_l2                                   # smoke profile (the notebook's defaults)
  gclib run gc_l2 --profile cpu -p seeds "[0, 1, 2]" -p lr 0.05
  gclib run gr_width --profile paper --device cuda --out /tmp/figs
  gclib run all --profile cpu                       # every figure; cached ones are skipped
  gclib run all --profile smoke --force             # rerun everything
  gclib run all --profile cpu --jobs 4              # four figures at a time, one thread each
  gclib run all --profile paper --dry-run           # the paper profile's code paths, capped, in minutes
  gclib run all --profile paper --fits-cpu --device cpu --threads 2 --jobs 1   # the committed paper results

Values of -p are Python literals (ints, floats, True/False/true/false, None, lists, tuples, dicts, quoted
strings; anything else is a string), checked against the type of the notebook's default.

errors:
""" + ERROR_TABLE,
    "sweep": """examples:
  gclib sweep gc_l2 -g l2 0,0.001,0.01 -g seed 0,1 --workers 2
  gclib sweep gr_width -g widths "[16,16],[64,64]" --profile cpu --scheduler tcp://10.0.0.5:8786

Each grid cell is one papermill run in OUT/sweeps/FIGURE/<cell>/; a cell already computed with the same
cache key is not recomputed (an interrupted sweep resumes). The table goes to OUT/sweeps/FIGURE/results.csv
(and results.parquet when pyarrow is installed).""",
    "book": "examples:\n  gclib book --profile cpu       # run stale figures, then jupyter-book build -W",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:

    fmt = argparse.RawDescriptionHelpFormatter
    top = _Parser(prog="gclib", formatter_class=fmt,
                  description="Rerun the figure notebooks of the gclib companion with new parameters.",
                  epilog="examples:\n  gclib list\n  gclib params gc_l2\n  gclib run gc_l2 --profile cpu\n"
                         "  gclib sweep gc_l2 -g l2 0,0.01 --workers 2\n  gclib book --profile cpu\n\n"
                         "exit status: 0 ok, 1 a notebook failed, 2 bad input (nothing executed)")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def add(name, help_):
        return sub.add_parser(name, help=help_, description=help_, epilog=_EXAMPLES[name],
                              formatter_class=fmt)

    def common(p, out_default):
        p.add_argument("--profile", default="smoke", choices=figures.PROFILES, help="parameter profile")
        p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                       help="set one parameter (repeatable)")
        p.add_argument("--device", default=None, help="auto, cpu or cuda[:N] (default: the profile's)")
        p.add_argument("--out", type=Path, default=None, help=f"output directory (default: {out_default})")
        p.add_argument("--force", action="store_true", help="rerun even when a cached result exists")

    p = add("list", "list every figure: id, paper, family, time per profile, claim")
    p.add_argument("--readme", action="store_true",
                   help="write the figure table to notebooks/README.md instead (from profiles.yaml)")
    p = add("params", "show a figure's parameters: type, default, each profile's value and the range")
    p.add_argument("figure")
    def jobs_option(p):
        p.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="figures run at once, `all` only (default: the usable cores)")

    def threads_option(p):
        p.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="T",
                       help=f"intra-op threads of each kernel (default {DEFAULT_THREADS}; recorded in "
                            "the provenance)")

    def kernels_option(p):
        p.add_argument("--fresh-kernels", action="store_true",
                       help="start a fresh kernel for every notebook (default: each worker runs its "
                            "notebooks in one kernel, reset between them; recorded in the provenance)")

    p = add("run", "execute one figure notebook (or all) with papermill")
    p.add_argument("figure", help="figure id (see `gclib list`) or `all`")
    common(p, "book/_generated/figures")
    jobs_option(p)
    threads_option(p)
    kernels_option(p)
    p.add_argument("--dry-run", action="store_true",
                   help="run the profile's code paths with loops, seeds, steps and samples capped (never a "
                        "result; into OUT/_dry_run/)")
    p.add_argument("--fits-cpu", action="store_true",
                   help="with `all --profile paper`: only the figures whose paper profile fits the reference "
                        "CPU (profiles.yaml paper_cpu), into results/paper unless --out: the committed set")
    p = add("sweep", "run a parameter grid on Dask distributed, one papermill task per cell")
    p.add_argument("figure")
    p.add_argument("-g", "--grid", nargs=2, action="append", metavar=("NAME", "V1,V2,..."), required=True,
                   help="a swept parameter and its comma-separated values (repeatable: cartesian product)")
    common(p, "book/_generated, results in OUT/sweeps/FIGURE")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler")
    where.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (2)")
    threads_option(p)
    kernels_option(p)
    p = add("book", "run stale figures (cached) at a profile, then build the Jupyter Book with -W")
    p.add_argument("--profile", default="cpu", choices=figures.PROFILES, help="parameter profile (cpu)")
    p.add_argument("--out", type=Path, default=None, help="figures directory (book/_generated/figures)")
    jobs_option(p)
    threads_option(p)
    kernels_option(p)
    return top


def _pairs(pairs, what: str, parse) -> dict:

    out = {}
    for name, value in pairs:
        if name in out:
            raise ParameterError(f"{what} {name!r} given twice")
        out[name] = parse(value)
    return out


def _cmd_list(args) -> int:
    if args.readme:
        path = notebook_directory() / "README.md"
        path.write_text(notebooks_readme(), encoding="utf-8")
        print(f"wrote {path}")
        return 0
    rows = [["id", "paper", "family", "smoke", "cpu", "paper", "claim"]]
    figs = figures.list_figures()
    listed = figures.read_profiles(notebook_directory() / "profiles.yaml")
    orphans = set(listed) - {f.id for f in figs}
    if orphans:
        print(f"gclib: note: profiles.yaml lists figures with no notebook: {', '.join(sorted(orphans))}",
              file=sys.stderr)
    for f in figs:
        est = [seconds(f.est_seconds.get(p)) for p in figures.PROFILES]
        rows.append([f.id, f.paper or "—", f.family or "—", *est, f.claim or f.title or "—"])
    print(text_table(rows))
    return 0


def _cmd_params(args) -> int:

    fig = figures.get_figure(args.figure)
    spec = figures.notebook_parameters(args.figure)
    resolved = {p: figures.resolve_parameters(args.figure, p, check_ranges=False) for p in figures.PROFILES
                if p == "smoke" or p in fig.profiles}  # shown as they are, even a value out of range here
    about = fig.title or fig.claim
    print(f"{fig.id}: {about}  ({fig.notebook.name})" if about else f"{fig.id}  ({fig.notebook.name})")
    ranges = figures.parameter_ranges(args.figure)
    rows = [["name", "type", *(f"{p} (default)" if p == "smoke" else p for p in resolved), "range", "help"]]
    for name, prm in spec.items():
        typ = "any" if prm.default is None else prm.type.__name__
        values = (repr(resolved[p][name]) for p in resolved)
        rows.append([name, typ, *values, ranges.get(name, "—"), prm.help])
    print(text_table(rows))
    return 0


def _verdicts(path) -> str:
    """"scorecard 2/3 ✓ (+1 n/a)": the run's verdicts counted by the one rule
    (:func:`~gclib.companion.kernel.judge.verdicts.fraction_text`); "" when there is no readable scorecard."""
    card = read_json(path) if path is not None else None
    claims = (card or {}).get("claims")
    return f"scorecard {fraction_text(claims)}" if isinstance(claims, list) else ""


def _report(res) -> None:
    if res.status == "failed":
        print(f"gclib: {res.figure} failed: {res.error}\n  partial notebook: {res.notebook}\n"
              f"  provenance: {res.provenance}", file=sys.stderr)
        return
    if res.status == "cached":
        when = f"cached, key {res.cache_key[:12]}"
    elif res.status == "rejudged":
        when = "verdicts recomputed from its saved tables (the tables' code is unchanged)"
    else:
        when = f"ran in {res.wall_seconds:.1f} s"
    print(f"{res.figure}: {when} → {res.directory}  {_verdicts(res.scorecard)}".rstrip())


def _cmd_run(args) -> int:
    kw = dict(profile=args.profile, overrides=_pairs(args.param, "parameter", figures.parse_literal),
              device=args.device, out_dir=args.out, force=args.force, threads=args.threads,
              dry_run=args.dry_run)
    if args.fits_cpu:
        if args.figure != "all" or args.profile != "paper" or args.dry_run:
            raise figures.ParameterError("--fits-cpu applies to `run all --profile paper` only "
                                         "(without --dry-run)")
        kw["out_dir"] = args.out or results_dir()
        kw["figures"] = figures.fits_cpu()
    if args.dry_run:
        print(f"gclib: dry run of the {args.profile} profile: its models, data, optimizers and measurements "
              "with loops, seeds, steps and samples capped (profiles.yaml dry_run) — not a result; written "
              f"to {figure_dir(args.out, '<figure>', dry_run=True)}", file=sys.stderr)
    if args.figure == "all":
        results = parallel.run_all(**kw, jobs=args.jobs, warm=not args.fresh_kernels)
    else:
        if args.jobs is not None:
            raise figures.ParameterError("--jobs applies to `run all` only (one figure is one kernel)")
        if args.fresh_kernels:
            raise figures.ParameterError("--fresh-kernels applies to `run all` only (one figure is one "
                                         "fresh kernel)")
        results = [runner.run_figure(args.figure, progress=sys.stderr.isatty(), **kw)]
    for res in results:
        _report(res)
    failed = [r.figure for r in results if r.status == "failed"]
    if args.figure == "all":
        print(f"{len(results) - len(failed)}/{len(results)} figures ok"
              + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _cmd_sweep(args) -> int:
    grid = _pairs(args.grid, "grid parameter", figures.parse_values)
    overrides = _pairs(args.param, "parameter", figures.parse_literal)
    if args.workers < 1:
        raise figures.ParameterError(f"--workers must be >= 1, got {args.workers}")
    table = parallel.sweep(args.figure, grid, profile=args.profile, overrides=overrides, device=args.device,
                         scheduler=args.scheduler, n_workers=args.workers, out_dir=args.out, force=args.force,
                         threads=args.threads, warm=not args.fresh_kernels)
    shown = [c for c in table.columns if c not in ("provenance", "cell", "error")]
    print(table[shown].to_string(index=False))
    print(f"results: {table.attrs['csv']}")
    bad = table[~table["status"].isin(["ran", "cached", "rejudged"])]
    for _, row in bad.iterrows():
        print(f"gclib: cell {row['cell']} {row['status']}: {row['error']}\n  provenance: {row['provenance']}",
              file=sys.stderr)
    return 1 if len(bad) else 0


def _cmd_book(args) -> int:

    figures_dir = Path(args.out or default_out_dir())
    results = parallel.run_all(args.profile, out_dir=figures_dir, jobs=args.jobs, threads=args.threads,
                               warm=not args.fresh_kernels)
    for res in results:
        _report(res)
    failed = [r.figure for r in results if r.status == "failed"]
    if failed:
        print(f"gclib: not building the book: {len(failed)} figure(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    from gclib.companion.book.build import build_book  # noqa: PLC0415 (PyYAML and the book only here)

    try:
        html = build_book(repo_root() / "book", figures_dir, strict=True)
    except Exception as err:  # BookBuildError carries the tail of jupyter-book's log
        print(f"gclib: book build failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"book: {html}")
    return 0


_COMMANDS = {"list": _cmd_list, "params": _cmd_params, "run": _cmd_run, "sweep": _cmd_sweep,
             "book": _cmd_book}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gclib`` console script and ``python -m gclib``; returns the exit status."""

    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except ParameterError as err:
        print(f"gclib: error: {err}", file=sys.stderr)
        return 2
    except RunError as err:
        print(f"gclib: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # provenance of the interrupted run says "running": it reruns next time
        print("gclib: interrupted", file=sys.stderr)
        return 130
