"""The simulated grasping benchmark (VGN / GIGA / Edge Grasp protocol) on pybullet: a floating Franka
hand, pile and packed scenes of URDF objects, a noisy single depth view, grasp execution and rounds."""
