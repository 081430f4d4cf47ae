"""Equivariant and CNN policies (escnn). Never imports a simulator.

Planned in issue #3; nothing here yet.
"""
