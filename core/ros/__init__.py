"""ROS 1 bridge (rospy from Debian) and ROS 2 through rosbridge (roslibpy)."""
