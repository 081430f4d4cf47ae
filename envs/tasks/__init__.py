"""One module per task; importing this package registers them all."""

from equimanip.envs.tasks import block_picking  # noqa: F401
