"""Equivariant image encoder, actor, critic and behaviour-cloning head built with escnn.

Architecture after Wang, Walters & Platt, "SO(2)-Equivariant Reinforcement Learning" (ICLR 2022,
arXiv:2203.04439) and SEIL (Jia, Wang et al., ICRA 2023, arXiv:2211.00194): seven 3×3 R2Conv
layers with regular representations and max-pooling down to 1×1; an actor whose ``(dx, dy)``
output is a vector field and whose other outputs are invariant (``dθ`` flips sign under
reflections); an invariant twin critic (group pooling).

Conventions match :mod:`equimanip.symmetry` exactly: our element ``(θ, reflection)`` is escnn's
``(reflection, θ)`` on ``flipRot2dOnR2(N, axis=0)`` / ``rot2dOnR2(N)``, for images (np.rot90 and
row flips) and for vectors (the same 2×2 matrices) alike. Tests pin this down.
"""

from __future__ import annotations

import math

import torch
from escnn import gspaces
from escnn import nn as enn

from equimanip.symmetry import ACTION_COMPONENTS, ACTION_DIM, CyclicGroup, DihedralGroup, Group, group_from_name

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
# log-std parameters: one per action component, so the two entries of (dx, dy) share one
# (a per-axis std would not be rotation-equivariant)
N_LOG_STD = len(ACTION_COMPONENTS)


def make_gspace(group: Group | str) -> gspaces.GSpace2D:
    """escnn gspace of a finite planar group (C_n or D_n), in our conventions."""
    group = group_from_name(group) if isinstance(group, str) else group
    if isinstance(group, CyclicGroup):
        return gspaces.rot2dOnR2(N=group.n)
    if isinstance(group, DihedralGroup):
        return gspaces.flipRot2dOnR2(N=group.n, axis=0.0)  # axis 0: the flip is y -> -y, our F
    raise ValueError(f"equivariant policies need a finite group C<n> or D<n> (regular representations); got {group}")


def _action_reprs(gspace: gspaces.GSpace2D) -> dict[str, list]:
    """Representation of each action component on ``gspace``."""
    dihedral = gspace.flips_order > 0
    vector = gspace.irrep(1, 1) if dihedral else gspace.irrep(1)
    sign = gspace.irrep(1, 0) if dihedral else gspace.trivial_repr  # dθ: flips under reflections
    kinds = {"trivial": [gspace.trivial_repr], "vector": [vector], "pseudoscalar": [sign]}
    return {c.name: kinds[c.kind] for c in ACTION_COMPONENTS}


def action_field_type(gspace: gspaces.GSpace2D) -> enn.FieldType:
    """The action ``(p, dx, dy, dz, dθ)`` as one geometric field, in our action order."""
    reprs = _action_reprs(gspace)
    return enn.FieldType(gspace, [r for c in ACTION_COMPONENTS for r in reprs[c.name]])


_CACHED = (".filter", ".expanded_bias")


class ModeIndependentState(torch.nn.Module):
    """Makes an escnn network's ``state_dict`` the same in train and eval mode.

    escnn caches expanded filters as buffers in eval mode (and right after construction), so a
    checkpoint's keys would depend on the mode it was saved in. We never save those caches, ignore
    their absence on load, and rebuild them from the loaded weights when in eval mode.
    """

    def _init_state_handling(self) -> None:
        self.train(True)  # drop the caches escnn builds at construction
        self.register_load_state_dict_post_hook(ModeIndependentState._after_load)

    def state_dict(self, *args, **kwargs):  # type: ignore[override]
        state = super().state_dict(*args, **kwargs)
        for key in [k for k in state if k.endswith(_CACHED)]:
            del state[key]
        return state

    @staticmethod
    def _after_load(module: torch.nn.Module, incompatible) -> None:
        incompatible.missing_keys[:] = [k for k in incompatible.missing_keys if not k.endswith(_CACHED)]
        if not module.training:
            module.train(True)
            module.train(False)  # re-expand the cached filters from the loaded weights


class EquivariantEncoder(torch.nn.Module):
    """Image → ``n_hidden`` regular fields at 1×1 (7 R2Conv layers, ReLU, max-pooling).

    Args:
        group: ``C4``, ``C8``, ``D4``, ``D8`` … (or a :class:`~equimanip.symmetry.Group`).
        in_channels: invariant input channels (depth, holding, …).
        image_size: 128 or 64 (or any 8·2^k ≥ 16).
        n_hidden: regular fields of the last layer (64 in the papers).
    """

    def __init__(self, group: Group | str = "D4", in_channels: int = 2, image_size: int = 128, n_hidden: int = 64):
        super().__init__()
        pools = math.log2(image_size / 8) if image_size >= 16 else -1
        if pools != int(pools) or pools < 1:
            raise ValueError(f"image_size must be 8·2^k with k ≥ 1 (16, 32, 64, 128, 256), got {image_size}")
        if n_hidden % 8:
            raise ValueError(f"n_hidden must be a multiple of 8, got {n_hidden}")
        self.gspace = make_gspace(group)
        self.in_type = enn.FieldType(self.gspace, in_channels * [self.gspace.trivial_repr])
        reg = self.gspace.regular_repr

        def ftype(n: int) -> enn.FieldType:
            return enn.FieldType(self.gspace, max(n, 1) * [reg])

        widths = [n_hidden // 8, n_hidden // 4, n_hidden // 2, n_hidden]
        layers: list[enn.EquivariantModule] = []
        current = self.in_type
        # convolution + pooling down to 8×8, widening the features as the image shrinks
        for i in range(int(pools)):
            out = ftype(widths[min(i, len(widths) - 1)])
            layers += [enn.R2Conv(current, out, 3, padding=1), enn.ReLU(out, inplace=True), enn.PointwiseMaxPool(out, 2)]
            current = out
        big, hidden = ftype(2 * n_hidden), ftype(n_hidden)
        layers += [enn.R2Conv(current, big, 3, padding=1), enn.ReLU(big, inplace=True),      # 8×8
                   enn.R2Conv(big, hidden, 3, padding=0), enn.ReLU(hidden, inplace=True),   # 6×6
                   enn.PointwiseMaxPool(hidden, 2),                                         # 3×3
                   enn.R2Conv(hidden, hidden, 3, padding=0), enn.ReLU(hidden, inplace=True)]  # 1×1
        self.net = enn.SequentialModule(*layers)
        self.out_type = hidden

    def forward(self, x: torch.Tensor) -> enn.GeometricTensor:
        return self.net(enn.GeometricTensor(channels_last(x), self.in_type))


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Image batches in channels-last layout: oneDNN's fast one on CPUs (a D4 64 px BC step costs
    0.83–0.95× the contiguous one in two runs on a 2-core AVX2 machine, ``step_cost()`` in ``scripts/bench_seil.py``),
    what tensor cores prefer on GPUs. escnn's convolutions, ReLUs and poolings keep the layout."""
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x


class EquivariantActor(ModeIndependentState):
    """Gaussian actor: equivariant mean, invariant log-std (one per action component).

    ``forward(image)`` returns ``(mean, log_std)``, both ``B×5`` in the action order
    ``(p, dx, dy, dz, dθ)``; the log-std of ``dx`` and ``dy`` is one shared value.
    """

    def __init__(self, group: Group | str = "D4", in_channels: int = 2, image_size: int = 128, n_hidden: int = 64):
        super().__init__()
        self.encoder = EquivariantEncoder(group, in_channels, image_size, n_hidden)
        gspace = self.encoder.gspace
        self.mean_type = action_field_type(gspace)
        out_type = self.mean_type + enn.FieldType(gspace, N_LOG_STD * [gspace.trivial_repr])
        self.head = enn.R2Conv(self.encoder.out_type, out_type, 1)
        self._init_state_handling()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.encoder(x)).tensor.flatten(1)
        return split_mean_log_std(out)


def split_mean_log_std(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``B×(5+4)`` head output → mean ``B×5`` and clamped log-std ``B×5`` (shared for dx, dy)."""
    mean, log_std = out[:, :ACTION_DIM], out[:, ACTION_DIM:]
    per_entry = [log_std[:, i : i + 1].expand(-1, c.size) for i, c in enumerate(ACTION_COMPONENTS)]
    return mean, torch.clamp(torch.cat(per_entry, dim=1), LOG_STD_MIN, LOG_STD_MAX)


class EquivariantBCHead(ModeIndependentState):
    """Deterministic equivariant policy for behaviour cloning: image → action mean ``B×5``."""

    def __init__(self, group: Group | str = "D4", in_channels: int = 2, image_size: int = 128, n_hidden: int = 64):
        super().__init__()
        self.encoder = EquivariantEncoder(group, in_channels, image_size, n_hidden)
        self.head = enn.R2Conv(self.encoder.out_type, action_field_type(self.encoder.gspace), 1)
        self._init_state_handling()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)).tensor.flatten(1)


class EquivariantCritic(ModeIndependentState):
    """Invariant twin Q: encoder features ⊕ action field → regular fields → group pooling → Q.

    ``forward(image, action)`` returns ``(q1, q2)``, each ``B×1``.
    """

    def __init__(self, group: Group | str = "D4", in_channels: int = 2, image_size: int = 128, n_hidden: int = 64,
                 n_critics: int = 2):
        super().__init__()
        self.encoder = EquivariantEncoder(group, in_channels, image_size, n_hidden)
        gspace = self.encoder.gspace
        self.action_type = action_field_type(gspace)
        joint = self.encoder.out_type + self.action_type
        hidden = enn.FieldType(gspace, n_hidden * [gspace.regular_repr])
        invariant = enn.FieldType(gspace, n_hidden * [gspace.trivial_repr])
        q_type = enn.FieldType(gspace, [gspace.trivial_repr])
        self.q_heads = torch.nn.ModuleList(
            enn.SequentialModule(enn.R2Conv(joint, hidden, 1), enn.ReLU(hidden, inplace=True),
                                 enn.GroupPooling(hidden), enn.R2Conv(invariant, q_type, 1))
            for _ in range(n_critics))
        self.joint_type = joint
        self._init_state_handling()

    def forward(self, x: torch.Tensor, action: torch.Tensor, encoder_grad: bool = True) -> tuple[torch.Tensor, ...]:
        """``encoder_grad=False`` runs the image encoder without autograd (gradients reach the action only)."""
        with torch.set_grad_enabled(encoder_grad and torch.is_grad_enabled()):
            features = self.encoder(x).tensor
        joint = enn.GeometricTensor(torch.cat([features, action[:, :, None, None]], dim=1), self.joint_type)
        return tuple(head(joint).tensor.flatten(1) for head in self.q_heads)
