"""A figure's output folder and what is written into it: the per-run tables a verdict is recomputed from,
and every JSON record written atomically (a leaf: it imports nothing of the wing). Used inside the kernel
(``savefig``, ``Scorecard.save``, the notebooks' ``save_table`` / ``load_table``) and outside it (the runner's
provenance, the committed results). [ours]

An atomic write goes to a temporary name beside the target and is moved into place with ``os.replace``: a
reader, or a rerun after a kill, sees the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["output_dir", "save_table", "load_table", "table_names", "read_json", "write_atomic", "write_json"]


def output_dir(out_dir: str | os.PathLike | None = None) -> Path:
    """The directory figures, tables and scorecards are written to, created if missing.

    Order: the ``out_dir`` argument; the ``GCLIB_OUTPUT_DIR`` environment variable (set by ``gclib run``);
    ``./figures`` relative to the current directory (for notebooks run by hand or by nbval).
    """
    path = Path(out_dir if out_dir is not None else os.environ.get("GCLIB_OUTPUT_DIR", "figures"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create output directory {str(path)!r}: {err.strerror}") from err
    return path


def _table_path(name: str, out_dir) -> Path:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"name must be a non-empty file stem of letters, digits, '-' or '_', got {name!r}")
    return output_dir(out_dir) / f"{name}.csv"


def save_table(table, name: str, *, out_dir: str | os.PathLike | None = None) -> Path:
    """Write a tidy results table (a pandas DataFrame) as ``<out>/<name>.csv`` (10 significant digits, no
    index), atomically, beside the figure; returns the path. It is the figure's raw per-run table: a
    notebook's verdict cells read it back with :func:`load_table`, so a verdict can be recomputed from it
    alone (rejudging a result: :mod:`gclib.companion.run.rejudge`). ``tools/calibrate_v2.py`` reads these
    tables back as calibration records."""
    path = _table_path(name, out_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    table.to_csv(tmp, index=False, float_format="%.10g")
    os.replace(tmp, path)
    return path


def load_table(name: str, *, out_dir: str | os.PathLike | None = None):
    """The table :func:`save_table` wrote as ``<out>/<name>.csv`` (a pandas DataFrame)."""
    import pandas as pd  # noqa: PLC0415 (pandas only where a table is read)

    path = _table_path(name, out_dir)
    if not path.exists():
        raise FileNotFoundError(f"no table {path.name} in {path.parent} (save_table writes it)")
    return pd.read_csv(path)


def table_names(directory: str | os.PathLike) -> list[str]:
    """The stems of the tables saved in ``directory`` (``*.csv``, hidden files left out), sorted."""
    return sorted(p.stem for p in Path(directory).glob("*.csv") if not p.name.startswith("."))


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object at ``path``; ``None`` when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then ``os.replace`` it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, data: dict) -> None:
    """``data`` as indented JSON (UTF-8, ``repr`` for what JSON cannot hold), written atomically."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=repr) + "\n")
