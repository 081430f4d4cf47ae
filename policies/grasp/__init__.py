"""6-DoF grasp detection from point clouds (Edge Grasp Network and VN-Edge, in plain torch).

Imports no simulator: the simulated grasping benchmark lives in ``equimanip.envs.grasping``.
"""

from equimanip.policies.grasp.detector import Detections, Grasp, GraspDetector
from equimanip.policies.grasp.edge_net import EdgeGraspNet, EdgeNetConfig
from equimanip.policies.grasp.edges import EdgeSet, grasp_pose_from_edge, preprocess_cloud, sample_edges
from equimanip.policies.grasp.gripper import FRANKA_HAND, GripperGeometry
from equimanip.policies.grasp.point_ops import ball_query, farthest_point_sample, knn
from equimanip.policies.grasp.vn_edge_net import VNEdgeGraspNet, VNEdgeNetConfig

__all__ = ["FRANKA_HAND", "Detections", "EdgeGraspNet", "EdgeNetConfig", "EdgeSet", "Grasp", "GraspDetector",
           "GripperGeometry", "VNEdgeGraspNet", "VNEdgeNetConfig", "ball_query", "farthest_point_sample",
           "grasp_pose_from_edge", "knn", "preprocess_cloud", "sample_edges"]
