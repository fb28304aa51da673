"""blastflow's test suite, a package so its shared modules import by name (`from tests.doubles.fake_k8s import ...`).

Not installed: `tests` is importable when the repository root is on `sys.path`, as it is under
`python -m pytest` (run from the root) and in the double launchers, which set PYTHONPATH.
"""
