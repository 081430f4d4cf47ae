"""6-DoF grasp detection from point clouds (Edge Grasp Network and VN-Edge, in plain torch).

Imports no simulator: the simulated grasping benchmark lives in ``equimanip.envs.grasping``.
"""

from equimanip.policies.grasp.gripper import FRANKA_HAND, GripperGeometry

__all__ = ["FRANKA_HAND", "GripperGeometry"]
