"""One robot interface that the simulator, the ROS bridge and real robots implement."""
