"""Several trained grasp scorers as one: the mean of their success probabilities.

``GraspDetector.load("a/model.pt+b/model.pt")`` builds one. Nets trained on the same data from other seeds or
with other inputs rank candidates differently where each is unsure; averaging their probabilities is the
usual remedy for rankers that are right about 60 % of the time on a balanced set. The members must agree on
the grasp depths they score (``max_extra_depth``): the detector offers every member the same candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from equimanip.policies.grasp.balls import reads_view_rays, trained_extra_depth, view_kwargs


@dataclass
class EnsembleConfig:
    """What the detector reads off an ensemble (its members' common settings)."""

    max_extra_depth: float = 0.0
    view_rays: int = 0  # some member reads view rays: the detector must pass the viewpoint


class EnsembleNet(nn.Module):
    """``forward(points, normals, edges, extra=, viewpoint=) -> logits``: the logit of the members' mean
    probability. Built from loaded nets; it has no checkpoint of its own (load it from the members' files)."""

    kind = "ensemble"

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two nets, got {len(members)}")
        depths = {round(trained_extra_depth(m), 6) for m in members}
        if len(depths) > 1:
            raise ValueError(f"the nets of an ensemble must score the same grasp depths; they were trained up to "
                             f"{', '.join(f'{d:g}' for d in sorted(depths))} m deeper")
        self.members = nn.ModuleList(members)
        self.config = EnsembleConfig(max_extra_depth=depths.pop(),
                                     view_rays=int(any(reads_view_rays(m) for m in members)))

    def hyper_parameters(self) -> dict:
        raise ValueError("an ensemble has no checkpoint of its own: load it from its members' files (a.pt+b.pt)")

    def forward(self, points: torch.Tensor, normals: torch.Tensor, edges: torch.Tensor, reference: bool = False,
                extra: torch.Tensor | None = None, viewpoint: torch.Tensor | None = None) -> torch.Tensor:
        probs = []
        for net in self.members:
            logits = net(points, normals, edges, reference=reference, extra=extra, **view_kwargs(net, viewpoint))
            probs.append(torch.sigmoid(logits.float()))
        mean = torch.stack(probs).mean(0).clamp(1e-7, 1 - 1e-7)
        return torch.logit(mean)
