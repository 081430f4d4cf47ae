"""Learning agents (RL through stable-baselines3, behaviour cloning, SEIL, grasp detection).

Planned in issues #3-#5; nothing here yet.
"""
