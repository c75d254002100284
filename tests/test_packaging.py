"""The package metadata, the conda environment and the Makefile agree."""
import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    tomllib = __import__("tomli")

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_is_a_valid_conda_env():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "gclib"
    assert env["channels"], "channels must be listed"
    deps = env["dependencies"]
    assert any(isinstance(d, str) and d.startswith("python=") for d in deps)
    assert "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip, "the pip section must install the project itself"


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    env_reqs = {_name(r): r.replace(" ", "") for r in pip if r != "-e ."}
    proj = _pyproject()
    wanted = list(proj["dependencies"])
    for extra in proj["optional-dependencies"].values():
        wanted += [r for r in extra if not r.startswith("gclib[")]  # an extra that includes another
    proj_reqs = {_name(r): r.replace(" ", "") for r in wanted}
    assert set(env_reqs) == set(proj_reqs), (
        f"only in environment.yml: {sorted(set(env_reqs) - set(proj_reqs))}; "
        f"only in pyproject: {sorted(set(proj_reqs) - set(env_reqs))}")
    for name, req in proj_reqs.items():
        if name == "torch":
            # the environment pins the CPU wheel the project is tested with; pyproject keeps a range
            assert env_reqs[name] == "torch==2.13.0"
        else:
            assert env_reqs[name] == req, f"{name}: {env_reqs[name]} vs {req}"


def test_dependencies_follow_the_wings():
    """The core needs torch, numpy and scipy only; each wing's libraries are an extra, the companion's
    includes the experiments', and the book's the companion's."""
    names = {_name(r) for r in _pyproject()["dependencies"]}
    assert names == {"torch", "numpy", "scipy"}
    extras = {k: {_name(r) for r in v} for k, v in _pyproject()["optional-dependencies"].items()}
    assert {"pandas", "tqdm", "scikit-learn", "mlxtend"} <= extras["experiments"]
    companion = {"gclib", "matplotlib", "seaborn", "papermill", "dask", "pyyaml", "ipykernel"}
    assert companion <= extras["companion"]
    assert "gclib[experiments]" in _pyproject()["optional-dependencies"]["companion"]
    assert "gclib[companion]" in _pyproject()["optional-dependencies"]["book"]
    assert {"nbval", "pytest"} <= extras["test"] and "jupyter-book" in extras["book"]
    assert _pyproject()["scripts"]["gclib"] == "gclib.companion.cli:main"
    assert _pyproject()["requires-python"] == ">=3.10"


def test_makefile_pins_cpu_torch_and_ci_calls_make_test():
    make = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in make
    for target in ("test:", "book:", "bench:"):
        assert re.search(rf"^{target}", make, re.M), target
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
