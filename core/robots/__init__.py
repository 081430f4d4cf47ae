"""One robot interface that the simulator, the ROS bridge and real robots implement.

:class:`Robot` (connect, observe, send_action, hold, disconnect) speaks the simulation envs'
observation keys and action layout; :class:`PolicyRunner` drives any robot at a fixed rate and stops
it safely; :class:`SafetyLimits` bound every action before it is sent; :class:`RobotConfig` describes
a real robot's ROS driver. The simulated robot is :class:`equimanip.envs.sim_robot.SimRobot`, the ROS
one :class:`equimanip.ros.ros_robot.RosRobot`. This package imports no simulator and no ROS.
"""

from equimanip.robots.config import RobotConfig, load_robot_config, shipped_robot_configs
from equimanip.robots.interface import (OBS_DEPTH, OBS_HOLDING, ObservationTimeout, Robot, RobotError, RobotObservation,
                                        hold_action)
from equimanip.robots.runner import PolicyRunner, RunReport
from equimanip.robots.safety import SafetyError, SafetyLimits

__all__ = ["OBS_DEPTH", "OBS_HOLDING", "ObservationTimeout", "PolicyRunner", "Robot", "RobotConfig", "RobotError",
           "RobotObservation", "RunReport", "SafetyError", "SafetyLimits", "hold_action", "load_robot_config",
           "shipped_robot_configs"]
