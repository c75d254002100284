"""Models used by the figure notebooks: an MLP, a small CNN and a small ResNet, initialised through
``gclib.sampling``'s init-scheme registry from an explicit seed.

Initialisation [ours]: every weight-bearing layer ``i`` (in registration order) draws its weight from
``derive_generator(seed, "model-init", i)`` and, when sampled, its bias from
``derive_generator(seed, "model-init", i, "bias")`` with ``sampling.sample_weights`` (on the CPU, so the
values do not depend on the device the model is later moved to). Layers are created with
``torch.nn.utils.skip_init``, so building a model never touches the global RNG. ``seed=None`` draws a fresh
seed from the OS (stored as ``model.seed``, so the draw can be repeated).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import skip_init

from gclib.device import derive_generator
from gclib.functions import ACTIVATIONS
from gclib.sampling import init_std, sample_weights
from gclib.validate import check_choice, check_positive_int, check_sizes

__all__ = ["MLP", "SmallCNN", "SmallResNet", "build_model", "MODELS"]
BIAS_INITS = ("zero", "sampled")


def _check_seed(seed) -> int:
    if seed is None:
        return torch.Generator().seed()  # non-deterministic (OS entropy); never the global RNG
    return check_positive_int("seed", seed, allow_zero=True)


def _check_init(init: str, std) -> None:
    """Unknown scheme or a misplaced/missing ``std`` raise here, before any layer is built."""
    init_std(init, 1, 1, std=std)


def _fans(layer: nn.Module) -> tuple[int, int]:
    """(fan_in, fan_out) as PyTorch defines them: Linear (in, out); Conv2d (in·k_h·k_w, out·k_h·k_w)."""
    w = layer.weight
    receptive = w[0, 0].numel() if w.dim() > 2 else 1
    return w.shape[1] * receptive, w.shape[0] * receptive


@torch.no_grad()
def _init_layer(layer: nn.Module, index: int, *, init: str, seed: int, bias_init: str,
                std: float | None = None) -> None:
    """Fill ``layer.weight`` (and ``layer.bias``) from registry scheme ``init`` with this layer's streams."""
    fan_in, fan_out = _fans(layer)
    gen = derive_generator(seed, "model-init", index)
    w = sample_weights(init, layer.weight.shape, fan_in, fan_out, generator=gen, std=std)
    layer.weight.copy_(w)
    if layer.bias is not None:
        if bias_init == "sampled":
            gen_b = derive_generator(seed, "model-init", index, "bias")
            b = sample_weights(init, layer.bias.shape, fan_in, fan_out, generator=gen_b, std=std)
            layer.bias.copy_(b)
        else:
            layer.bias.zero_()


class MLP(nn.Module):
    """Fully connected network ``sizes[0] → sizes[1] → … → sizes[-1]``: Linear layers with the hidden
    ``activation`` between them and a linear output (logits).

    Args:
        sizes: layer widths, at least 2 positive ints (input dim, hidden widths…, outputs K).
        activation: hidden activation, one of ``gclib.functions.ACTIVATIONS`` ("relu", "tanh", "linear",
            "gelu"); the output layer is always linear (logits).
        init: weight scheme name from ``gclib.sampling.init_names()`` (e.g. "he_normal": N(0, 2/fan_in)).
        bias: whether the Linear layers have biases (``bias_init`` is then ignored).
        bias_init: "zero" or "sampled" (i.i.d. from the weight scheme of the layer); ``None`` = "sampled"
            for ``init="pytorch_default"`` (matches ``nn.Linear``: U(±1/√fan_in)), "zero" otherwise (Keras).
        seed: int >= 0 for reproducible weights, ``None`` for a fresh OS-entropy seed (``self.seed``).
        std: the standard deviation for ``init="normal"`` (only there).

    Shapes: input (N, ...) with prod(...) = sizes[0] (flattened), or one unbatched example (sizes[0],);
    output (N, sizes[-1]) (or (sizes[-1],)). ``self.linears`` is the ModuleList of Linear layers.
    """

    def __init__(self, sizes, activation: str = "relu", init: str = "pytorch_default", bias: bool = True,
                 bias_init: str | None = None, seed: int | None = None, std: float | None = None):
        super().__init__()
        self.sizes = check_sizes("sizes", sizes)
        check_choice("activation", activation, ACTIVATIONS)
        _check_init(init, std)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        if bias_init is None:
            bias_init = "sampled" if init == "pytorch_default" else "zero"
        check_choice("bias_init", bias_init, BIAS_INITS)
        self.seed = _check_seed(seed)
        self.activation, self.init, self.bias_init = activation, init, bias_init
        self.linears = nn.ModuleList(skip_init(nn.Linear, a, b, bias=bias)
                                     for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        self.act = ACTIVATIONS[activation].module()
        for i, layer in enumerate(self.linears):
            _init_layer(layer, i, init=init, seed=self.seed, bias_init=bias_init, std=std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1) if x.dim() > 2 else x
        if h.shape[-1] != self.sizes[0]:
            raise ValueError(f"MLP expects inputs with {self.sizes[0]} features (after flattening), "
                             f"got shape {tuple(x.shape)}")
        last = len(self.linears) - 1
        for i, layer in enumerate(self.linears):
            h = layer(h)
            if i < last:
                h = self.act(h)
        return h


class SmallCNN(nn.Module):
    """Two conv layers + ReLU + 2×2 max-pooling, then a linear head [ours]:
    conv3×3(C→w) → ReLU → pool → conv3×3(w→2w) → ReLU → pool → adaptive avg-pool to s×s → Linear(2w·s², K),
    with s = image_size // 4 (the pool is the identity for image_size×image_size inputs; other sizes are
    resampled to s×s so the same head applies).

    Args: in_channels C, n_classes K, width w (positive ints); image_size >= 4; init: registry scheme for
        every conv/linear weight (biases: sampled for "pytorch_default", zero otherwise, as in ``MLP``);
        seed: int >= 0 or None.

    Shapes: input (N, C, H, W), or flattened (N, C·image_size²); output (N, K).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 16, image_size: int = 28,
                 init: str = "pytorch_default", seed: int | None = None):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("n_classes", n_classes), ("width", width)):
            check_positive_int(name, v)
        if check_positive_int("image_size", image_size) < 4:
            raise ValueError(f"image_size must be an integer >= 4, got {image_size!r}")
        _check_init(init, None)
        self.seed = _check_seed(seed)
        self.in_channels, self.image_size = in_channels, image_size
        s = image_size // 4
        self.conv1 = skip_init(nn.Conv2d, in_channels, width, 3, padding=1)
        self.conv2 = skip_init(nn.Conv2d, width, 2 * width, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.resize = nn.AdaptiveAvgPool2d(s)
        self.fc = skip_init(nn.Linear, 2 * width * s * s, n_classes)
        bias_init = "sampled" if init == "pytorch_default" else "zero"
        for i, layer in enumerate((self.conv1, self.conv2, self.fc)):
            _init_layer(layer, i, init=init, seed=self.seed, bias_init=bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and x.shape[1] == self.in_channels * self.image_size**2:
            x = x.reshape(x.shape[0], self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SmallCNN expects (N, {self.in_channels}, H, W) or (N, "
                             f"{self.in_channels * self.image_size ** 2}), got shape {tuple(x.shape)}")
        h = self.pool(torch.relu(self.conv1(x)))
        h = self.pool(torch.relu(self.conv2(h)))
        return self.fc(self.resize(h).flatten(1))


class _BasicBlock(nn.Module):
    """conv3×3(stride) → BN → ReLU → conv3×3 → BN, plus the shortcut (identity, or 1×1 conv + BN when the
    shape changes), then ReLU (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = skip_init(nn.Conv2d, c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = skip_init(nn.Conv2d, c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(skip_init(nn.Conv2d, c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A small CIFAR-style ResNet [ours, after He et al. 2016]: conv3×3(C→w) + BN + ReLU, then one stage per
    entry of ``blocks`` (stage j: ``blocks[j]`` basic blocks with w·2ʲ channels, stride 2 from the second
    stage on), global average pooling and a Linear head to K logits.

    Args: in_channels C, n_classes K, width w (positive ints); blocks: positive ints, one per stage;
        init: registry scheme for every conv/linear weight (default "he_normal"; biases zero; BatchNorm
        γ = 1, β = 0); seed: int >= 0 or None.

    Shapes: input (N, C, H, W) with any H, W >= 1; output (N, K). Contains BatchNorm: use ``.eval()`` for
    per-example-independent outputs (e.g. geometric complexity) and ``.train()`` to train.
    """

    def __init__(self, in_channels: int = 3, n_classes: int = 10, width: int = 16, blocks=(1, 1, 1),
                 init: str = "he_normal", seed: int | None = None):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("n_classes", n_classes), ("width", width)):
            check_positive_int(name, v)
        blocks = check_sizes("blocks", blocks, min_len=1)
        _check_init(init, None)
        self.seed = _check_seed(seed)
        self.in_channels = in_channels
        self.stem = nn.Sequential(skip_init(nn.Conv2d, in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        stages, c = [], width
        for j, n in enumerate(blocks):
            c_out = width * 2**j
            for b in range(n):
                stages.append(_BasicBlock(c, c_out, 2 if (j > 0 and b == 0) else 1))
                c = c_out
        self.stages = nn.Sequential(*stages)
        self.fc = skip_init(nn.Linear, c, n_classes)
        weighted = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        for i, layer in enumerate(weighted):
            _init_layer(layer, i, init=init, seed=self.seed, bias_init="zero")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SmallResNet expects (N, {self.in_channels}, H, W), got shape {tuple(x.shape)}")
        h = self.stages(self.stem(x))
        return self.fc(h.mean(dim=(2, 3)))


MODELS = {"mlp": MLP, "cnn": SmallCNN, "resnet": SmallResNet}


def build_model(name: str, **kw) -> nn.Module:
    """``MODELS[name](**kw)``: "mlp" → ``MLP(sizes, …)``, "cnn" → ``SmallCNN``, "resnet" → ``SmallResNet``;
    an unknown name raises ValueError listing the valid ones."""
    return MODELS[check_choice("model", name, MODELS)](**kw)
