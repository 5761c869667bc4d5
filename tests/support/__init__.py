"""Helpers shared by the test modules: worlds, cases, clocks, snapshots."""
