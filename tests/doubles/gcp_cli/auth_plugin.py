"""TEST DOUBLE of `gke-gcloud-auth-plugin`, the GKE credential plugin that kubectl ≥ 1.26 needs.

Run as a program (`python -m tests.doubles.gcp_cli.auth_plugin`, through the `gke-gcloud-auth-plugin`
launcher that `world.GcpWorld` writes first on PATH). elastic-blast 1.5.0 only checks that it is on
PATH (gcp.py 1012-1022, `shutil.which`) once `kubectl version --client` reports 1.26 or newer, and
exits 7 "Missing dependency 'gke-gcloud-auth-plugin'" without it. Real kubectl would exec it for a
token; the kubectl double never does, so it answers only as the real plugin would: a version, or an
ExecCredential with a fake token.
"""

from __future__ import annotations

import json
import sys

__all__ = ["main"]

VERSION = "Kubernetes v1.28.0-alpha+9ce6c3e1e8a5bb3a0e4a4e5e1a2ba3c7a4bd2a5f\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--version" in argv:
        sys.stdout.write(VERSION)
        return 0
    credential = {
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {"interactive": False},
        "status": {"expirationTimestamp": "2099-01-01T00:00:00Z", "token": "fake-token"},
    }
    sys.stdout.write(json.dumps(credential) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
