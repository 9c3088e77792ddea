"""World test fixtures: the shared trained tiny world (see tests/conftest_world.py)."""

from conftest_world import world_models  # noqa: F401
