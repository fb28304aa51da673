"""Operator shells: the `blastflow` command line and the local Prefect stack.

These may import Prefect and `flows`; the core (`blastflow/`) never imports them.
"""
