"""Two small networks for the PyTorch bridge's training checks and timings
(tests/test_torch_bridge.py, scripts/bench_train_step.py): a RedNet-style one
(involution bottlenecks) and a MobileNetV2-style one (inverted residuals).

Each is built from a convolution class (``torch.nn.Conv2d`` or
``fastconv.torch.Conv2d``: the same constructor) and an involution class
(``UnfoldInvolution2d``, the official formulation in plain torch, or
``fastconv.torch.Involution2d``: the same constructor and state-dict names),
so the two builds have the same parameters and state dict.
"""
import torch

nn = torch.nn


class _ConvModule(nn.Module):
    def __init__(self, c_in, c_out, bias, norm, act):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=bias)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-5) if norm else nn.Identity()
        self.activate = nn.ReLU() if act else nn.Identity()

    def forward(self, x):
        return self.activate(self.bn(self.conv(x)))


class UnfoldInvolution2d(nn.Module):
    """The official involution module (Li et al., CVPR 2021) in plain torch: the
    kernel branch, then unfold, multiply and sum over the K*K taps; trainable."""

    def __init__(self, channels, kernel_size=7, stride=1, group_channels=16, reduction_ratio=4):
        super().__init__()
        c, K = channels, kernel_size
        self.K, self.stride, self.gc, self.g = K, stride, group_channels, channels // group_channels
        self.avgpool = nn.AvgPool2d(stride, stride) if stride > 1 else nn.Identity()
        self.conv1 = _ConvModule(c, c // reduction_ratio, False, True, True)
        self.conv2 = _ConvModule(c // reduction_ratio, K * K * self.g, True, False, False)
        self.unfold = nn.Unfold(K, 1, (K - 1) // 2, stride)

    def forward(self, x):
        w = self.conv2(self.conv1(self.avgpool(x)))
        b, _, h, ww = w.shape
        w = w.view(b, self.g, self.K * self.K, h, ww).unsqueeze(2)
        out = self.unfold(x).view(b, self.g, self.gc, self.K * self.K, h, ww)
        return (w * out).sum(dim=3).view(b, self.g * self.gc, h, ww)


class InvolutionBottleneck(nn.Module):
    """RedNet's block: 1x1 reduce, involution (stride), 1x1 expand, BN after each,
    ReLU, the residual (a strided 1x1 convolution when the shape changes)."""

    def __init__(self, conv, inv, c_in, c_out, stride, K, group_channels):
        super().__init__()
        mid = c_out // 4
        self.conv1, self.bn1 = conv(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid)
        self.inv, self.bn2 = inv(mid, K, stride, group_channels, 4), nn.BatchNorm2d(mid)
        self.conv3, self.bn3 = conv(mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out)
        self.down = None
        if stride > 1 or c_in != c_out:
            self.down = nn.Sequential(conv(c_in, c_out, 1, stride=stride, bias=False),
                                      nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.inv(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class RedNetStyle(nn.Module):
    def __init__(self, conv, inv, width=16, blocks=((64, 1), (64, 2)), K=7, group_channels=4,
                 classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv(3, width, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        layers, c = [], width
        for c_out, s in blocks:
            layers.append(InvolutionBottleneck(conv, inv, c, c_out, s, K, group_channels))
            c = c_out
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, depthwise 3x3 (stride), 1x1 project, BN
    after each, ReLU6 after the first two, the residual when the shape stays."""

    def __init__(self, conv, c_in, c_out, stride, expand):
        super().__init__()
        h = c_in * expand
        self.body = nn.Sequential(
            conv(c_in, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            conv(h, h, 3, stride=stride, padding=1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            conv(h, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2Style(nn.Module):
    def __init__(self, conv, width=16, blocks=((16, 1, 1), (24, 2, 4), (24, 1, 4)), last=64,
                 classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv(3, width, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU6())
        layers, c = [], width
        for c_out, s, e in blocks:
            layers.append(InvertedResidual(conv, c, c_out, s, e))
            c = c_out
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(conv(c, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6())
        self.fc = nn.Linear(last, classes)

    def forward(self, x):
        return self.fc(self.head(self.blocks(self.stem(x))).mean((2, 3)))


def pair(kind, bridge, dtype, seed=0, **kw):
    """(pure torch model, fastconv.torch model) of one kind, the second loaded
    with the first's state dict (strict), both in training mode."""
    torch.manual_seed(seed)
    if kind == "rednet":
        ref = RedNetStyle(nn.Conv2d, UnfoldInvolution2d, **kw)
        fc = RedNetStyle(bridge.Conv2d, bridge.Involution2d, **kw)
    else:
        ref = MobileNetV2Style(nn.Conv2d, **kw)
        fc = MobileNetV2Style(bridge.Conv2d, **kw)
    ref, fc = ref.to(dtype), fc.to(dtype)
    fc.load_state_dict(ref.state_dict(), strict=True)
    return ref.train(), fc.train()


def train_step(model, opt, x, target):
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), target)
    loss.backward()
    opt.step()
    return loss.item()
