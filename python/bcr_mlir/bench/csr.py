"""The papers' CSR baseline: the pruned model with every Conv/Linear/GRU weight run as a torch.sparse CSR matmul.

- Conv2d / Conv3d (groups == 1): im2col (`F.unfold`, or `Tensor.unfold` for 3-D), then
  `torch.sparse.mm(W_csr[Cout, Cin*k], cols[Cin*k, positions])`.
- Linear: `W_csr @ x^T`.
- GRU: the input projections of all time steps at once (`W_ih_csr @ X^T`), then per step the
  recurrent projection `W_hh_csr @ h` (a CSR matrix-vector product), with PyTorch's gate equations.
- Grouped / depthwise convs are not pruned by any recipe and stay dense (`nn.Conv2d` as is).

`to_csr(model)` returns a new module; the original is not changed.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def _csr(weight: torch.Tensor) -> torch.Tensor:
    return weight.detach().reshape(weight.shape[0], -1).contiguous().to_sparse_csr()


class CSRConv2d(nn.Module):
    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight = _csr(conv.weight)
        self.bias = None if conv.bias is None else conv.bias.detach().reshape(-1, 1)
        self.out_channels = conv.out_channels
        self.kernel_size, self.stride = conv.kernel_size, conv.stride
        self.padding, self.dilation = conv.padding, conv.dilation

    def forward(self, x):
        n, _, h, w = x.shape
        kh, kw = self.kernel_size
        oh = (h + 2 * self.padding[0] - self.dilation[0] * (kh - 1) - 1) // self.stride[0] + 1
        ow = (w + 2 * self.padding[1] - self.dilation[1] * (kw - 1) - 1) // self.stride[1] + 1
        if (kh, kw) == (1, 1) and self.stride == (1, 1) and self.padding == (0, 0):
            cols = x.reshape(n, x.shape[1], h * w)
        else:
            cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        outs = []
        for i in range(n):
            y = torch.sparse.mm(self.weight, cols[i])
            outs.append(y if self.bias is None else y + self.bias)
        return torch.stack(outs).reshape(n, self.out_channels, oh, ow)


class CSRConv3d(nn.Module):
    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        if conv.dilation != (1, 1, 1) or isinstance(conv.padding, str):
            raise ValueError("CSR Conv3d supports dilation 1 and numeric padding only")
        self.weight = _csr(conv.weight)
        self.bias = None if conv.bias is None else conv.bias.detach().reshape(-1, 1)
        self.out_channels = conv.out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding

    def forward(self, x):
        n, c = x.shape[:2]
        pd, ph, pw = self.padding
        x = F.pad(x, (pw, pw, ph, ph, pd, pd))
        (kd, kh, kw), (sd, sh, sw) = self.kernel_size, self.stride
        patches = x.unfold(2, kd, sd).unfold(3, kh, sh).unfold(4, kw, sw)   # n, c, od, oh, ow, kd, kh, kw
        od, oh, ow = patches.shape[2:5]
        cols = patches.permute(0, 1, 5, 6, 7, 2, 3, 4).reshape(n, c * kd * kh * kw, od * oh * ow)
        outs = []
        for i in range(n):
            y = torch.sparse.mm(self.weight, cols[i])
            outs.append(y if self.bias is None else y + self.bias)
        return torch.stack(outs).reshape(n, self.out_channels, od, oh, ow)


class CSRLinear(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.weight = _csr(linear.weight)
        self.bias = None if linear.bias is None else linear.bias.detach()
        self.out_features = linear.out_features

    def forward(self, x):
        lead = x.shape[:-1]
        y = torch.sparse.mm(self.weight, x.reshape(-1, x.shape[-1]).t()).t()
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)


class CSRGRU(nn.Module):
    """nn.GRU (unidirectional, batch 1 or more, no dropout at inference) with CSR gate matrices."""

    def __init__(self, gru: nn.GRU):
        super().__init__()
        if gru.bidirectional or getattr(gru, "proj_size", 0):
            raise ValueError("CSR GRU supports unidirectional GRUs only")
        self.layers, self.hidden, self.batch_first = gru.num_layers, gru.hidden_size, gru.batch_first
        self.w_ih = [_csr(getattr(gru, f"weight_ih_l{k}")) for k in range(self.layers)]
        self.w_hh = [_csr(getattr(gru, f"weight_hh_l{k}")) for k in range(self.layers)]
        zero = torch.zeros(3 * self.hidden)
        self.b_ih = [getattr(gru, f"bias_ih_l{k}").detach() if gru.bias else zero for k in range(self.layers)]
        self.b_hh = [getattr(gru, f"bias_hh_l{k}").detach() if gru.bias else zero for k in range(self.layers)]

    def forward(self, x, h0=None):
        seq = x if self.batch_first else x.transpose(0, 1)     # batch, steps, features
        batch, steps = seq.shape[:2]
        H = self.hidden
        finals = []
        for k in range(self.layers):
            outputs = []
            for b in range(batch):
                gi = torch.sparse.mm(self.w_ih[k], seq[b].t()).t() + self.b_ih[k]   # steps, 3H: every step at once
                h = torch.zeros(H) if h0 is None else h0[k, b]
                ys = []
                for t in range(steps):
                    gh = torch.sparse.mm(self.w_hh[k], h.reshape(H, 1)).reshape(-1) + self.b_hh[k]
                    r = torch.sigmoid(gi[t, :H] + gh[:H])
                    z = torch.sigmoid(gi[t, H:2 * H] + gh[H:2 * H])
                    n = torch.tanh(gi[t, 2 * H:] + r * gh[2 * H:])
                    h = (1 - z) * n + z * h
                    ys.append(h)
                outputs.append(torch.stack(ys))
            seq = torch.stack(outputs)
            finals.append(seq[:, -1])
        out = seq if self.batch_first else seq.transpose(0, 1)
        return out, torch.stack(finals)


def to_csr(model: nn.Module) -> nn.Module:
    """A copy of `model` with its Conv2d/Conv3d (groups 1), Linear and GRU layers running as CSR matmuls."""
    model = copy.deepcopy(model).eval()

    def replace(parent: nn.Module):
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.groups == 1 and child.padding_mode == "zeros" \
                    and not isinstance(child.padding, str):
                setattr(parent, name, CSRConv2d(child))
            elif isinstance(child, nn.Conv3d) and child.groups == 1 and child.padding_mode == "zeros":
                setattr(parent, name, CSRConv3d(child))
            elif isinstance(child, nn.Linear):
                setattr(parent, name, CSRLinear(child))
            elif isinstance(child, nn.GRU):
                setattr(parent, name, CSRGRU(child))
            else:
                replace(child)
    replace(model)
    return model


def count_csr(model: nn.Module) -> int:
    return sum(isinstance(m, (CSRConv2d, CSRConv3d, CSRLinear, CSRGRU)) for m in model.modules())
