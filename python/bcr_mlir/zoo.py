"""Built-in models: the demo network and the benchmark models of the papers, as plain torch.nn.

Every builder takes `scale` so that tests can use the same topology at a small size (arm64 under
qemu is ~250x slower than the host). `get(name)` returns `(model, example_input)` in eval mode with a
fixed seed.
"""
from __future__ import annotations

import torch
from torch import nn

VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _width(channels: int, scale: float) -> int:
    return max(4, int(round(channels * scale)))


class DemoNet(nn.Module):
    """The `make demo` network: Linear and 3x3 Conv2d layers, stride 1 and 2, with padding."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.conv4 = nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(4 * width, 256)
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        x = torch.relu(self.conv4(x))
        x = torch.flatten(self.pool(x), 1)
        return self.fc2(torch.relu(self.fc1(x)))


class VGG16(nn.Module):
    """VGG-16 with batch norm, at CIFAR-10 size (3x32x32)."""

    def __init__(self, num_classes: int = 10, scale: float = 1.0):
        super().__init__()
        layers, channels = [], 3
        for v in VGG16_CONFIG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                width = _width(v, scale)
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 1000, scale: float = 1.0):
        super().__init__()
        c = _width(64, scale)
        self.stem = nn.Sequential(nn.Conv2d(3, c, 7, 2, 3, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        blocks = []
        for width, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            width = _width(width, scale)
            blocks += [BasicBlock(c, width, stride), BasicBlock(width, width, 1)]
            c = width
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class _ResidualBlock(nn.Module):
    """relu(body(x) + shortcut(x)), the shortcut the identity when None (ResNeXtBlock, TCResBlock)."""

    body: nn.Module
    shortcut: nn.Module | None

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(self.body(x) + identity)


class _Classifier(nn.Module):
    """fc(pool(layers(stem(x)))) flattened: the shape of ResNeXt and TCResNet."""

    stem: nn.Module
    layers: nn.Module
    pool: nn.Module
    fc: nn.Module

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


class ResNeXtBlock(_ResidualBlock):
    """ResNeXt's bottleneck: 1x1 conv to `groups` x `group_width` channels, a grouped 3x3 conv, 1x1 conv."""

    def __init__(self, cin: int, cout: int, groups: int, group_width: int, stride: int):
        super().__init__()
        width = groups * group_width
        self.body = nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNeXt(_Classifier):
    """A CIFAR-size ResNeXt (32x4d blocks, as ResNeXt-29 but 2 blocks a stage) on 3x32x32 images."""

    def __init__(self, num_classes: int = 10, scale: float = 1.0):
        super().__init__()
        c = _width(64, scale)
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        blocks = []
        for cout, group_width, stride in [(256, 4, 1), (512, 8, 2), (1024, 16, 2)]:
            cout = _width(cout, scale)
            groups = 32 if scale >= 1 else 8
            group_width = max(2, _width(group_width * 32, scale) // groups)
            blocks += [ResNeXtBlock(c, cout, groups, group_width, stride), ResNeXtBlock(cout, cout, groups, group_width, 1)]
            c = cout
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)


class TCResBlock(_ResidualBlock):
    """TC-ResNet's block: two 9-tap Conv1d over time (the first of `stride`), a 1x1 shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(cin, cout, 9, stride, 4, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True),
                                  nn.Conv1d(cout, cout, 9, 1, 4, bias=False), nn.BatchNorm1d(cout))
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv1d(cin, cout, 1, stride, bias=False), nn.BatchNorm1d(cout),
                                          nn.ReLU(inplace=True))


class TCResNet(_Classifier):
    """TC-ResNet14 (keyword spotting, Choi et al. 2019, width 1.5): temporal Conv1d over 40 MFCCs x 101 frames."""

    def __init__(self, num_classes: int = 12, scale: float = 1.0):
        super().__init__()
        c = _width(24, scale)
        self.stem = nn.Conv1d(40, c, 3, 1, 1, bias=False)
        blocks = []
        for cout in (36, 48, 72):
            cout = _width(cout, scale)
            blocks += [TCResBlock(c, cout, 2), TCResBlock(cout, cout, 1)]
            c = cout
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(c, num_classes)


class _DoubleConv(nn.Sequential):
    """U-Net's stage: two 3x3 convs, each with batch norm and ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """A 4-level U-Net (Ronneberger et al. 2015) for segmentation on 3x64x64 images: max-pools down,
    ConvTranspose2d(2, stride 2) up, the encoder's maps concatenated in; per-pixel class scores out."""

    def __init__(self, num_classes: int = 4, scale: float = 1.0):
        super().__init__()
        widths = [_width(w, scale) for w in (32, 64, 128, 256)]
        self.encoder = nn.ModuleList(_DoubleConv(cin, cout) for cin, cout in zip([3, *widths], widths))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(nn.ConvTranspose2d(wide, narrow, 2, stride=2) for narrow, wide in zip(widths, widths[1:]))
        self.decoder = nn.ModuleList(_DoubleConv(2 * w, w) for w in widths[:-1])
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        skips = []
        for level, stage in enumerate(self.encoder):
            x = stage(x if level == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, stage in zip(reversed(self.up), reversed(self.decoder)):
            x = stage(torch.cat([up(x), skips.pop()], 1))
        return self.head(x)


class DCGANGenerator(nn.Sequential):
    """DCGAN's generator (Radford et al. 2016): a 100-d code (as 100x1x1) to a 3x64x64 image through
    ConvTranspose2d layers (4x4 kernels; stride 2, padding 1 after the first), each with batch norm and ReLU,
    tanh out."""

    def __init__(self, code: int = 100, scale: float = 1.0):
        widths = [_width(w, scale) for w in (512, 256, 128, 64)]
        layers = [nn.ConvTranspose2d(code, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        super().__init__(*layers, nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False), nn.Tanh())


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(inplace=True), nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    CONFIG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, num_classes: int = 1000, scale: float = 1.0):
        super().__init__()
        c = _width(32, scale)
        layers: list[nn.Module] = [nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU6(inplace=True)]
        for expand, width, repeats, stride in self.CONFIG:
            width = _width(width, scale)
            for i in range(repeats):
                layers.append(InvertedResidual(c, width, stride if i == 0 else 1, expand))
                c = width
        last = _width(1280, scale)
        layers += [nn.Conv2d(c, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class GRUNet(nn.Module):
    """A stacked GRU with a linear read-out per step (TIMIT size: 153 features, 2x1024, 61 classes)."""

    def __init__(self, features: int = 153, hidden: int = 1024, layers: int = 2, classes: int = 61):
        super().__init__()
        self.gru = nn.GRU(features, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y)


class LSTMNet(nn.Module):
    def __init__(self, features: int = 64, hidden: int = 128, layers: int = 1, classes: int = 10):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


class C3D(nn.Module):
    """A small C3D for 8-frame clips (3x8x56x56): four 3x3x3 conv3d stages."""

    def __init__(self, num_classes: int = 101, scale: float = 1.0):
        super().__init__()
        widths = [_width(w, scale) for w in (32, 64, 128, 256)]
        layers: list[nn.Module] = []
        c = 3
        for i, w in enumerate(widths):
            layers += [nn.Conv3d(c, w, 3, padding=1), nn.ReLU(inplace=True)]
            layers.append(nn.MaxPool3d((1, 2, 2)) if i == 0 else nn.MaxPool3d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def initialize(model: nn.Module) -> nn.Module:
    """Scale-preserving random weights (as torchvision: Kaiming fan-out for convs) and non-trivial
    batch-norm statistics, so activations neither vanish nor explode through deep models and a
    numerics test exercises every layer (PyTorch's default init fades to ~1e-8 through MobileNet-V2)."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if module.bias is not None:
                nn.init.normal_(module.bias, 0.0, 0.05, generator=generator)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            channels = module.num_features
            module.weight.data = torch.rand(channels, generator=generator) + 0.5
            module.bias.data = torch.randn(channels, generator=generator) * 0.1
            module.running_mean = torch.randn(channels, generator=generator) * 0.1
            module.running_var = torch.rand(channels, generator=generator) + 0.5
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 1.0 / module.in_features ** 0.5, generator=generator)
            nn.init.zeros_(module.bias)
    return model


def get(name: str, small: bool = False) -> tuple[nn.Module, torch.Tensor]:
    """(model, example input) for a model name. `small=True` gives a reduced size for emulated targets."""
    torch.manual_seed(0)
    if name == "demo":
        model, x = DemoNet(width=8 if small else 32), torch.randn(1, 3, 16 if small else 32, 16 if small else 32)
    elif name == "vgg16":
        model, x = VGG16(scale=0.125 if small else 1.0), torch.randn(1, 3, 32, 32)
    elif name == "resnet18":
        # Small sizes stay >= 64: IREE 3.13 fails on a stride-2 conv with a 1x1 output (ResNet at 32x32).
        model, x = ResNet18(scale=0.125 if small else 1.0), torch.randn(1, 3, 64 if small else 224, 64 if small else 224)
    elif name == "mobilenetv2":
        model, x = MobileNetV2(scale=0.25 if small else 1.0), torch.randn(1, 3, 64 if small else 224, 64 if small else 224)
    elif name == "gru":
        model = GRUNet(16, 32, 2, 8) if small else GRUNet()
        x = torch.randn(1, 4 if small else 100, 16 if small else 153)
    elif name == "lstm":
        model, x = LSTMNet(), torch.randn(1, 8, 64)
    elif name == "c3d":
        model = C3D(scale=0.125 if small else 1.0)
        x = torch.randn(1, 3, 8, 16 if small else 56, 16 if small else 56)
    elif name == "resnext":
        model, x = ResNeXt(scale=0.25 if small else 1.0), torch.randn(1, 3, 16 if small else 32, 16 if small else 32)
    elif name == "tcresnet":
        model, x = TCResNet(scale=0.5 if small else 1.0), torch.randn(1, 40, 101)
    elif name == "unet":
        model, x = UNet(scale=0.25 if small else 1.0), torch.randn(1, 3, 32 if small else 64, 32 if small else 64)
    elif name == "dcgan":
        model, x = DCGANGenerator(scale=0.25 if small else 1.0), torch.randn(1, 100, 1, 1)
    else:
        raise KeyError(f"unknown model '{name}'; choose one of {', '.join(NAMES)}")
    if name in ("vgg16", "resnet18", "mobilenetv2", "c3d", "resnext", "tcresnet", "unet", "dcgan"):
        initialize(model)
    return model.eval(), x


NAMES = ["demo", "vgg16", "resnet18", "mobilenetv2", "gru", "lstm", "c3d", "resnext", "tcresnet", "unet", "dcgan"]
