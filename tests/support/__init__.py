"""Helpers shared by the test layers: firmware files, simulated modems, scripted ports, CLI
runners. Fixtures defined here are registered for the whole suite by the root conftest.py."""
