"""Entry points: the `obsim` command, generation and its cache, verify-fix and the live supervisor.

Nothing imports this package; it imports every layer below it.
"""
