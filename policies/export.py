"""Export escnn policies to plain torch modules (no escnn at inference; same outputs)."""

from __future__ import annotations

import torch
from torch import nn

from equimanip.policies.equivariant import (EquivariantActor, EquivariantBCHead, EquivariantCritic, channels_last,
                                            split_mean_log_std)


class ExportedActor(nn.Module):
    def __init__(self, actor: EquivariantActor):
        super().__init__()
        self.encoder = actor.encoder.net.export()
        self.head = actor.head.export()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return split_mean_log_std(self.head(self.encoder(channels_last(x))).flatten(1))


class ExportedBCHead(nn.Module):
    def __init__(self, policy: EquivariantBCHead):
        super().__init__()
        self.encoder = policy.encoder.net.export()
        self.head = policy.head.export()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(channels_last(x))).flatten(1)


class GroupMaxPool(nn.Module):
    """Max over the group dimension of regular fields (channels grouped by ``order``)."""

    def __init__(self, order: int):
        super().__init__()
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.view(b, c // self.order, self.order, h, w).amax(dim=2)


class ExportedCritic(nn.Module):
    def __init__(self, critic: EquivariantCritic):
        super().__init__()
        self.encoder = critic.encoder.net.export()
        order = critic.encoder.gspace.fibergroup.order()
        # escnn's own GroupPooling export is an escnn class: rebuild the head in plain torch
        self.q_heads = nn.ModuleList(
            nn.Sequential(head[0].export(), nn.ReLU(), GroupMaxPool(order), head[3].export()) for head in critic.q_heads)

    def forward(self, x: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, ...]:
        joint = torch.cat([self.encoder(channels_last(x)), action[:, :, None, None]], dim=1)
        return tuple(head(joint).flatten(1) for head in self.q_heads)


_EXPORTERS = {EquivariantActor: ExportedActor, EquivariantBCHead: ExportedBCHead, EquivariantCritic: ExportedCritic}


def export(module: nn.Module) -> nn.Module:
    """A plain-torch copy of an equivariant policy module (in eval mode, like escnn's export)."""
    for kind, exporter in _EXPORTERS.items():
        if isinstance(module, kind):
            was_training = module.training
            module.eval()  # escnn freezes its expanded filters in eval mode
            out = exporter(module).eval()
            module.train(was_training)
            return out
    raise ValueError(f"cannot export {type(module).__name__}; accepted: {', '.join(k.__name__ for k in _EXPORTERS)}")
