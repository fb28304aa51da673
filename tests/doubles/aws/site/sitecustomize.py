"""TEST DOUBLE loader: installs tests/doubles/aws/boto3_hook.py in a Python started with this directory on PYTHONPATH.

Python imports `sitecustomize` at start-up (the `site` module). With BOTO3_DOUBLE_STATE set, the hook is installed
as soon as the program imports `botocore.client` (so a Python that never talks to AWS pays nothing); it then answers
what moto's server does not emulate for the real elastic-blast (see boto3_hook.py). Without the variable, nothing
happens. Never raises: a broken hook must not change the program under test, so it says so on stderr instead.
"""

import importlib.util
import os
import sys


class _InstallAfterBotocoreClient:
    """A meta path finder that lets `botocore.client` load as usual, then installs the hook."""

    def find_spec(self, name, path=None, target=None):
        if name != "botocore.client":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            try:
                sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
                import boto3_hook

                boto3_hook.install(module)
            except Exception as exc:  # pragma: no cover - only a broken installation gets here
                sys.stderr.write(f"boto3 double not installed: {exc!r}\n")

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("BOTO3_DOUBLE_STATE"):
    sys.meta_path.insert(0, _InstallAfterBotocoreClient())
