"""Tools for developing sqnflash, above every layer: the fault matrix (upgrades and recoveries
against the simulator's faults, for the tests and `make faults`) and the generator of
docs/errors.md (`python -m sqnflash.tools.errordoc`)."""
