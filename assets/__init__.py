"""Packaged data files (URDF models we made, textures). Reach them with
``importlib.resources.files("equimanip.assets")``."""
