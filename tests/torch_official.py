"""The official involution module (Li et al., CVPR 2021), re-expressed in PyTorch.

mmcv's ConvModule is conv (+BN) (+ReLU); this builds the same module with the
official state-dict names, in eval mode and float64, for the cross-checks.
"""
import numpy as np


def official_involution(sd, channels, K, stride, group_channels, reduction_ratio=4):
    import torch

    nn = torch.nn
    c, cr, g = channels, channels // reduction_ratio, channels // group_channels

    class Involution(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Module()
            self.conv1.conv = nn.Conv2d(c, cr, 1, bias=False)
            self.conv1.bn = nn.BatchNorm2d(cr, eps=1e-5)
            self.conv1.activate = nn.ReLU()
            self.conv2 = nn.Module()
            self.conv2.conv = nn.Conv2d(cr, K * K * g, 1, bias=True)
            if stride > 1:
                self.avgpool = nn.AvgPool2d(stride, stride)
            self.unfold = nn.Unfold(K, 1, (K - 1) // 2, stride)

        def forward(self, x):
            h = x if stride == 1 else self.avgpool(x)
            weight = self.conv2.conv(self.conv1.activate(self.conv1.bn(self.conv1.conv(h))))
            b, _, hh, ww = weight.shape
            weight = weight.view(b, g, K * K, hh, ww).unsqueeze(2)
            out = self.unfold(x).view(b, g, group_channels, K * K, hh, ww)
            return (weight * out).sum(dim=3).view(b, c, hh, ww)

    m = Involution().double().eval()
    missing, unexpected = m.load_state_dict(
        {k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in sd.items()}, strict=False)
    assert not unexpected
    assert all("num_batches_tracked" in k for k in missing)
    return m
