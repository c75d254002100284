"""The package metadata, the conda environment and the Makefile agree."""
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

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


# PyPI name -> conda-forge name, where the two differ
CONDA_FORGE_NAMES = {
    "torch": "pytorch",
    # conda-forge's `dask` is a metapackage (bokeh, pyarrow, ...); dask-core is PyPI's dask
    "dask": "dask-core",
    "matplotlib": "matplotlib-base",  # conda-forge's `matplotlib` adds PyQt
    "seaborn": "seaborn-base",  # conda-forge's `seaborn` adds statsmodels
}
# (PyPI name, extra) -> the conda-forge packages that provide that extra, at the same version bounds
CONDA_FORGE_EXTRAS = {("dask", "distributed"): ("distributed",)}
# PyPI packages conda-forge lacks -> why; only these may appear under `pip:` besides the project itself
PIP_ONLY: dict[str, str] = {}
# conda packages that are no Python dependency of gclib -> why
CONDA_ONLY = {
    "python": "the interpreter",
    "pip": "installs the `pip:` section",
    "nodejs": "npm for book/vendor_mathjax.sh",
}
# the extras `make` installs (pip install -e ".[...]" in the Makefile)
MAKE_EXTRAS = ("experiments", "companion", "book", "test")


def _conda_spec(spec: str) -> tuple[str, SpecifierSet, str | None]:
    """A conda match spec ("name", "name>=1,<2", "name==1.2", "name=1.2", "name=1.2=build",
    "name >=1.2 build") as (name, its version bounds in PEP 440 form, build string or None)."""
    m = re.match(r"[A-Za-z0-9_.\-]+", spec.strip())
    if m is None:
        raise ValueError(f"not a conda match spec: {spec!r}")
    name, rest = m.group(0).lower(), spec.strip()[m.end():]
    build = None
    if rest.startswith(" "):  # name version [build]
        parts = rest.split()
        if len(parts) > 2:
            raise ValueError(f"unexpected fields in conda match spec: {spec!r}")
        version = parts[0]
        build = parts[1] if len(parts) == 2 else None
    elif rest.startswith("=") and not rest.startswith("=="):  # name=version[=build]: version is fuzzy
        version, _, build = rest[1:].partition("=")
        build = build or None
        if not any(c in version for c in "<>!=,*") and build is None:
            version += "*"
    else:  # name, or name followed by operators
        version = rest
    if any(c in version for c in "|[] "):
        raise ValueError(f"conda spec form this test does not read: {spec!r}")
    if version in ("", "*"):
        return name, SpecifierSet(), build
    pep440 = []
    for part in version.split(","):
        if part.endswith("*"):  # fuzzy: 1.2* or 1.2.* is == 1.2.*
            part = "==" + part.lstrip("=").rstrip("*").rstrip(".") + ".*"
        elif part[0].isdigit():  # a bare version is an exact match
            part = "==" + part
        pep440.append(part)
    return name, SpecifierSet(",".join(pep440)), build


def _env():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _env_conda_specs() -> list[str]:
    return [d for d in _env()["dependencies"] if isinstance(d, str)]


def _env_pip() -> list[str]:
    return next(d["pip"] for d in _env()["dependencies"] if isinstance(d, dict) and "pip" in d)


def _make_requirements() -> list[Requirement]:
    """pyproject's runtime dependencies and those of the extras `make` installs, less self-references."""
    proj = _pyproject()
    reqs = [Requirement(r) for r in proj["dependencies"]]
    for extra in MAKE_EXTRAS:
        reqs += [Requirement(r) for r in proj["optional-dependencies"][extra]]
    return [r for r in reqs if canonicalize_name(r.name) != canonicalize_name(proj["name"])]


def _wanted_conda() -> dict[str, SpecifierSet]:
    """conda-forge name -> the version bounds pyproject asks for, for every requirement not pip-only."""
    wanted = {}
    for req in _make_requirements():
        name = canonicalize_name(req.name)
        if name in PIP_ONLY:
            continue
        wanted[CONDA_FORGE_NAMES.get(name, name)] = req.specifier
        for extra in req.extras:
            assert (name, extra) in CONDA_FORGE_EXTRAS, f"no conda-forge mapping for {name}[{extra}]"
            for pkg in CONDA_FORGE_EXTRAS[name, extra]:
                wanted[pkg] = req.specifier
    return wanted


@pytest.mark.parametrize("spec, name, bounds, build", [
    ("numpy", "numpy", "", None),
    ("numpy>=1.24", "numpy", ">=1.24", None),
    ("numpy>=1.24,<2", "numpy", ">=1.24,<2", None),
    ("jupyter-book==1.0.4.post1", "jupyter-book", "==1.0.4.post1", None),
    ("python=3.11", "python", "==3.11.*", None),
    ("pytorch=2.3=cpu*", "pytorch", "==2.3", "cpu*"),
    ("pytorch=*=cpu*", "pytorch", "", "cpu*"),
    ("pytorch >=2.1 cpu*", "pytorch", ">=2.1", "cpu*"),
    ("pytorch 2.3.*", "pytorch", "==2.3.*", None),
    ("Scikit-Learn >=1.3,<2", "scikit-learn", ">=1.3,<2", None),
])
def test_conda_spec_reads_each_match_spec_form(spec, name, bounds, build):
    assert _conda_spec(spec) == (name, SpecifierSet(bounds), build)


def test_environment_yml_uses_conda_forge_only():
    assert _env()["channels"] == ["conda-forge", "nodefaults"]
    assert not any("::" in s for s in _env_conda_specs()), "no package may name another channel"


def test_makefile_installs_the_extras_the_environment_mirrors():
    m = re.search(r'pip install[^\n]*-e "\.\[([^\]]+)\]"', (ROOT / "Makefile").read_text())
    assert m, "the Makefile must pip install the project with its extras"
    assert set(m.group(1).split(",")) == set(MAKE_EXTRAS)
    assert set(MAKE_EXTRAS) <= set(_pyproject()["optional-dependencies"])


def test_every_pyproject_requirement_is_a_conda_forge_package_with_the_same_bounds():
    specs = [_conda_spec(s) for s in _env_conda_specs()]
    names = [name for name, _, _ in specs]
    assert len(names) == len(set(names)), f"listed twice: {sorted({n for n in names if names.count(n) > 1})}"
    have = {name: bounds for name, bounds, _ in specs if name not in CONDA_ONLY}
    wanted = _wanted_conda()
    assert set(have) == set(wanted), (
        f"only in environment.yml: {sorted(set(have) - set(wanted))}; "
        f"missing from environment.yml: {sorted(set(wanted) - set(have))}")
    for name, bounds in wanted.items():
        assert have[name] == bounds, f"{name}: environment.yml has '{have[name]}', pyproject '{bounds}'"


def test_pip_section_holds_the_project_and_only_what_conda_forge_lacks():
    pip = _env_pip()
    assert pip.count("-e .") == 1, "the pip section must install the project itself, once"
    others = {canonicalize_name(Requirement(r).name): Requirement(r) for r in pip if r != "-e ."}
    assert set(others) == set(PIP_ONLY), (
        f"under pip: but on conda-forge: {sorted(set(others) - set(PIP_ONLY))}; "
        f"pip-only but missing: {sorted(set(PIP_ONLY) - set(others))}")
    wanted = {canonicalize_name(r.name): r.specifier for r in _make_requirements()}
    for name, req in others.items():
        assert req.specifier == wanted[name], f"{name}: pip has '{req.specifier}', pyproject '{wanted[name]}'"


def test_environment_yml_asks_for_the_cpu_pytorch_build():
    builds = {name: build for name, _, build in map(_conda_spec, _env_conda_specs())}
    assert builds["pytorch"] is not None and builds["pytorch"].startswith("cpu"), (
        f"pytorch build must select conda-forge's cpu_* builds, not {builds['pytorch']!r}")


def test_environment_python_satisfies_requires_python():
    _, bounds, _ = next(s for s in map(_conda_spec, _env_conda_specs()) if s[0] == "python")
    version = str(bounds).removeprefix("==").removesuffix(".*")
    assert Version(version) in SpecifierSet(_pyproject()["requires-python"]), f"python {bounds}"


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
