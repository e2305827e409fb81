"""The contract every other layer shares: the scenario schema, taxonomy and difficulty rule, the
dataset format (schema, writer, reader, exporters), time ranges and symptom figures.

Imports nothing of ours (`tests/test_layers.py`); see docs/ARCHITECTURE.md, "Layers".
"""
