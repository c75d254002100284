#!/usr/bin/env python
"""Rehearse the GPU bundle (tools/gpu_bundle.py) on this CPU as the GPU machine runs it: `make gpu-rehearsal`.

Usage (repository root): .venv/bin/python tools/gpu_rehearsal.py [--work build/gpu-rehearsal] [--fresh-image]
                         [FIGURES...]

1. image   WORK/image: a venv of this machine's Python holding only what the GPU image has: torch==2.13.0
           (the CPU stand-in for its torch 2.11+cu130), then gpu_bundle.IMAGE_STACK from PyPI (the one
           step that uses the network; built once, rebuilt with --fresh-image). Each rehearsal runs in a
           fresh hard-linked copy, WORK/venv, checked to hold exactly the image's packages, so a package
           installed by an earlier rehearsal cannot hide a missing wheel.
2. tree    WORK/tree: the files the device tool sends (`git ls-files -co --exclude-standard`), no .venv, no
           ignored build outputs.
3. bundle  WORK/tree/gpu_bundle: gpu_bundle.build for this machine's Python (same NEEDED, FALLBACKS,
           IMAGE_HAS), with its tag and requirement checks.
4. run     `bash gpu_bundle/run.sh --device cpu --dry-run [FIGURES]` from WORK/tree with WORK/venv first on
           PATH, under `unshare --net --mount` (root): no network but loopback, the Debian Fashion-MNIST
           folder hidden under an empty tmpfs (the bundle's copy must be the one read), no pip configuration
           or PIP_*/GCLIB_*/JUPYTER_* variables, a fresh HOME (no run cache). Without unshare it says so and
           runs with the network.
5. format  every figure of `gclib list` (or FIGURES) must have run, and each folder under
           book/_generated/figures/_dry_run/ pass gpu_bundle.result_problems (committed-results format).
6. 3.12    WORK/bundle-3.12: the real bundle (built, never run here): every wheel's tags against CPython
           3.12 on manylinux_2_28 x86_64, the requirement walk for 3.12, what it asks of the image.

It prints a summary (per figure ok/FAILED with seconds and the format check, the total time, both bundles'
size in MiB, the 3.12 tag check) and what a rehearsal here cannot cover; exit 0 only when every figure ran
and passed the format check and the 3.12 checks pass. [ours]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_bundle  # noqa: E402 (the tool beside this one)

ROOT = gpu_bundle.ROOT
TORCH_STAND_IN = "torch==2.13.0"  # the CPU wheel (any other spec pulls a multi-GB CUDA build)
RUN_LINE = re.compile(r"^run\.sh: (\S+) (ok|FAILED) ([0-9.]+) s$")
#: variables that would let the rehearsal reach what the GPU machine does not have
STRIP = ("PIP_", "GCLIB_", "JUPYTER_", "IPYTHON", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_")
NOT_COVERED = (
    "Python 3.12 itself: this machine has {py}; the 3.12 wheels are checked by tag and requirement walk, "
    "never installed or imported",
    "CUDA and the GPU: run.sh ran with --device cpu; CUDA kernels, GPU memory and the torch.cuda paths "
    "did not run",
    "torch 2.11's API: the stand-in is torch 2.13.0, so a call added after 2.11 passes here",
    "the image's exact package versions: the stand-in takes today's PyPI releases of the image's stack; "
    "older ones there may behave differently, or make pip fall back to mlxtend 0.23.4 (see 'the image "
    "must meet')",
    "the paper profile's sizes: only the dry-run caps ran (times and memory at full size are estimates)",
    "the image's own Python set-up: here pip installs into a venv; there a system site-packages marked "
    "externally managed is overridden by run.sh, a read-only one makes pip fall back to a user install",
)


def step(name: str, times: dict):
    """A context manager recording the wall seconds of step ``name`` into ``times``."""
    class _Step:
        def __enter__(self):
            print(f"== {name}", flush=True)
            self.t0 = time.monotonic()

        def __exit__(self, *exc):
            times[name] = time.monotonic() - self.t0
    return _Step()


def _freeze(python: Path) -> list[str]:
    """The `pip freeze` lines of the environment of ``python``."""
    out = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], check=True, capture_output=True,
                         text=True).stdout
    return sorted(line for line in out.splitlines() if line.strip())


def _link_or_copy(src, dst):
    """Hard-link ``src`` to ``dst`` (pip adds files and replaces old ones, never edits them in place, so the
    image stays as built), or copy it where a link is refused."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def image_venv(work: Path, fresh: bool) -> Path:
    """WORK/venv: a fresh hard-linked copy of WORK/image, the stand-in GPU image (built when missing, changed
    or ``fresh``), checked to hold exactly the image's packages; returns the copy's python."""
    image, venv = work / "image", work / "venv"
    stamp = image / "rehearsal-image.json"
    want = [TORCH_STAND_IN, *gpu_bundle.IMAGE_STACK]
    if fresh or not stamp.is_file() or json.loads(stamp.read_text()).get("specs") != want:
        shutil.rmtree(image, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(image)], check=True)
        pip = [str(image / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, TORCH_STAND_IN], check=True)
        subprocess.run([*pip, *gpu_bundle.IMAGE_STACK], check=True)
        stamp.write_text(json.dumps({"specs": want, "freeze": _freeze(image / "bin" / "python")}, indent=1))
    shutil.rmtree(venv, ignore_errors=True)
    shutil.copytree(image, venv, symlinks=True, copy_function=_link_or_copy)
    python = venv / "bin" / "python"
    if _freeze(python) != json.loads(stamp.read_text())["freeze"]:
        raise SystemExit(f"{venv} does not hold exactly the image's packages; rerun with --fresh-image")
    return python


def copy_tree(dest: Path) -> int:
    """Copy the files the device tool sends (tracked, and untracked but not ignored) to ``dest`` (replaced);
    returns their count."""
    names = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                           check=True, capture_output=True, text=True).stdout.split("\0")
    shutil.rmtree(dest, ignore_errors=True)
    count = 0
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file() or src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name, follow_symlinks=False)
            count += 1
    return count


def offline_command(args: list[str]) -> tuple[list[str], str]:
    """The command running ``bash gpu_bundle/run.sh ARGS`` with no network, and how it is isolated (a line).

    As root, `unshare --net --mount`: loopback up (the kernels talk to papermill over 127.0.0.1), the
    Debian Fashion-MNIST folder under an empty tmpfs. Without it, the plain command and a warning."""
    from gclib.experiments.data import FASHION_DIR  # noqa: PLC0415 (the folder gclib falls back to)

    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True, text=True) \
        if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        why = "not installed" if probe is None else (probe.stderr.strip() or f"exit {probe.returncode}")
        return ["bash", "gpu_bundle/run.sh", *args], (
            f"WARNING: unshare --net unavailable ({why}): run.sh ran WITH the network and with {FASHION_DIR} "
            "visible; only pip's --no-index kept the install offline")
    hide = f"if [ -d {FASHION_DIR} ]; then mount -t tmpfs tmpfs {FASHION_DIR}; fi"
    lo_up = ("ip link set lo up 2>/dev/null || python -c \"import fcntl, socket, struct; "
             "fcntl.ioctl(socket.socket(), 0x8914, struct.pack('16sH', b'lo', 0x49))\"")
    inner = f"set -e; {hide}; {lo_up}; exec bash gpu_bundle/run.sh \"$@\""
    return ["unshare", "--net", "--mount", "bash", "-c", inner, "run.sh", *args], (
        f"offline: unshare --net --mount (loopback only; {FASHION_DIR} hidden; no pip configuration)")


def run_env(venv_python: Path, home: Path) -> dict:
    """The environment of the offline run: this one less STRIP, no pip configuration file, the venv first
    on PATH (the project's .venv removed from it), a fresh HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIP)}
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != ROOT / ".venv/bin"]
    env.update(PIP_CONFIG_FILE=os.devnull, HOME=str(home), PATH=os.pathsep.join([str(venv_python.parent),
                                                                                    *path]))
    return env


def run_offline(tree: Path, cmd: list[str], env: dict, log: Path) -> tuple[int, dict[str, tuple[str, float]]]:
    """Run ``cmd`` in ``tree``, echoing and logging its output; returns (exit status, figure -> (status,
    seconds)) from run.sh's lines."""
    ran = {}
    popen = dict(cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                 errors="replace")
    with open(log, "w") as fh, subprocess.Popen(cmd, **popen) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            fh.write(line)
            m = RUN_LINE.match(line.strip())
            if m:
                ran[m[1]] = (m[2], float(m[3]))
    return proc.returncode, ran


def main() -> int:
    """Run the six steps and print the summary; exit 1 when a figure or a check failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("figures", nargs="*", help="figure ids (default: every figure of `gclib list`)")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "gpu-rehearsal")
    ap.add_argument("--fresh-image", action="store_true", help="rebuild the stand-in image venv")
    args = ap.parse_args()
    from gclib.companion.figures import list_figures  # noqa: PLC0415

    t_start, times = time.monotonic(), {}
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    expected = args.figures or [f.id for f in list_figures()]
    with step("image: a venv with only the GPU image's packages", times):
        venv_python = image_venv(work, args.fresh_image)
    with step("tree: the files the device tool sends", times):
        print(f"{copy_tree(work / 'tree')} files")
    with step(f"bundle for Python {py}", times):
        n_local, size_local, gaps_local = gpu_bundle.build(work / "tree" / "gpu_bundle", py)
        misfits_local = gpu_bundle.tag_misfits((work / "tree" / "gpu_bundle" / "wheels").glob("*.whl"), py)
    cmd, isolation = offline_command(["--device", "cpu", "--dry-run", *args.figures])
    print(isolation)
    with step("run.sh, offline", times):
        rc, ran = run_offline(work / "tree", cmd, run_env(venv_python, work / "home"), work / "run.log")
    out = work / "tree" / "book" / "_generated" / "figures" / "_dry_run"
    problems = {fig: gpu_bundle.result_problems(out / fig, fig, dry_run=True) for fig in ran}
    with step("bundle for Python 3.12 (built, not run)", times):
        n312, size312, gaps312 = gpu_bundle.build(work / "bundle-3.12", "3.12")
        wheels312 = sorted((work / "bundle-3.12" / "wheels").glob("*.whl"))
        misfits312 = gpu_bundle.tag_misfits(wheels312, "3.12")
        _, needs312 = gpu_bundle.requirement_gaps(work / "bundle-3.12" / "wheels", "3.12")

    total = time.monotonic() - t_start
    pyfull = sys.version.split()[0]
    print(f"\nGPU rehearsal (Python {pyfull}, {TORCH_STAND_IN} for the image's torch; {isolation})")
    print(f"  {'figure':<20} {'run':<7} {'seconds':>8}  committed-results format")
    for fig in expected:
        status, seconds = ran.get(fig, ("missing", float("nan")))
        fmt = "-" if fig not in ran else ("ok" if not problems[fig] else "; ".join(problems[fig]))
        print(f"  {fig:<20} {status:<7} {seconds:>8.1f}  {fmt}")
    extra = sorted(set(ran) - set(expected))
    good = [f for f in expected if ran.get(f, ("",))[0] == "ok" and not problems[f]]
    print(f"  {len(good)}/{len(expected)} figures ran offline at the paper dry-run caps in the "
          f"committed-results format (run.sh exit {rc}{'; also ran: ' + ', '.join(extra) if extra else ''})")
    print(f"  bundle {py}: {n_local} wheels, {size_local / 2**20:.1f} MiB (rehearsed)"
          + (f"; misfits {misfits_local}" if misfits_local else "")
          + (f"; unmet {[str(g) for g in gaps_local]}" if gaps_local else ""))
    print(f"  bundle 3.12: {n312} wheels, {size312 / 2**20:.1f} MiB (built, not run; limit "
          f"{gpu_bundle.LIMIT // 2**20} MiB)")
    print("  tags 3.12: " + (f"all {len(wheels312)} wheels fit CPython 3.12 on manylinux_2_28 x86_64"
                              if not misfits312 else f"{len(misfits312)} misfit: {', '.join(misfits312)}"))
    print("  requirements 3.12: " + ("every one met by the bundle or the image" if not gaps312
                                     else "; ".join(map(str, gaps312))))
    print("  the image must meet: " + "; ".join(f"{k} ({' | '.join(v)})" for k, v in needs312.items()))
    print("  time: " + ", ".join(f"{k.split(':')[0]} {v:.0f} s" for k, v in times.items())
          + f"; total {total:.0f} s ({total / 60:.1f} min)")
    print("  not covered by this rehearsal:")
    for line in NOT_COVERED:
        print(f"    - {line.format(py=pyfull)}")
    ok = (len(good) == len(expected) and rc == 0 and not misfits312 and not gaps312 and not misfits_local
          and not gaps_local and size312 <= gpu_bundle.LIMIT)
    print("GPU rehearsal " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
