"""Equivariant (escnn) and CNN policies. Never imports a simulator.

Equivariant modules take the group from the task's symmetry declaration (``C4``, ``C8``, ``D4``,
``D8`` …) and are exactly equivariant end to end through the action they output; ``export()``
turns them into plain torch modules for deployment.
"""

from equimanip.policies.cnn import CNNActor, CNNBCHead, CNNCritic, CNNEncoder
from equimanip.policies.device import resolve_device
from equimanip.policies.equivariant import (EquivariantActor, EquivariantBCHead, EquivariantCritic, EquivariantEncoder,
                                            action_field_type, make_gspace)
from equimanip.policies.export import export

__all__ = ["CNNActor", "CNNBCHead", "CNNCritic", "CNNEncoder", "EquivariantActor", "EquivariantBCHead",
           "EquivariantCritic", "EquivariantEncoder", "action_field_type", "make_gspace", "export", "resolve_device"]
