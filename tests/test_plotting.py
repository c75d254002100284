import hashlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from gclib.companion.kernel.draw import savefig, set_style  # noqa: E402
from gclib.companion.outputs import output_dir  # noqa: E402


def _figure():
    set_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [1, 0, 2], label="a")
    ax.legend()
    return fig


def test_savefig_writes_png_and_svg_deterministically(tmp_path):
    fig = _figure()
    a = savefig(fig, "demo", out_dir=tmp_path / "a")
    b = savefig(fig, "demo", out_dir=tmp_path / "b")
    plt.close(fig)
    assert set(a) == {"png", "svg"}
    for fmt in ("png", "svg"):
        assert a[fmt].stat().st_size > 1000
        assert hashlib.sha256(a[fmt].read_bytes()).digest() == hashlib.sha256(b[fmt].read_bytes()).digest()
    svg = a["svg"].read_text()
    assert "<dc:date>" not in svg


def test_output_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GCLIB_OUTPUT_DIR", str(tmp_path / "out"))
    assert output_dir() == tmp_path / "out" and (tmp_path / "out").is_dir()


@pytest.mark.parametrize("name", ["", "a/b", "x y"])
def test_savefig_rejects_bad_names(tmp_path, name):
    fig = _figure()
    with pytest.raises(ValueError, match="name"):
        savefig(fig, name, out_dir=tmp_path)
    plt.close(fig)


def test_savefig_rejects_non_figures(tmp_path):
    with pytest.raises(TypeError, match="Figure"):
        savefig("not a figure", "x", out_dir=tmp_path)
