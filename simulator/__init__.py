"""The virtual-time engine: the kernel, the simulated infrastructure around the service and the
wiring of one run.

Builds on the engine-neutral models of `world`; never imports the live engine (`live`).
"""
