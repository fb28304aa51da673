"""TEST DOUBLES of the Google Cloud command-line tools the real `elastic-blast` 1.5.0 runs on GCP.

elastic-blast reaches Google Cloud only through child processes (gcloud, gsutil, kubectl; util.py 220-255,
filehelper.py 219/247/494): these doubles replace exactly those, offline, so that the real CLI from PyPI
runs unchanged in the tests (`submit --dry-run`, `submit`, `status`, `delete`).

- `gcloud`, `gsutil`, `kubectl`, `auth_plugin` (gke-gcloud-auth-plugin): the doubles, each run as a program
  through a launcher on PATH; each module's docstring lists the real command lines it answers and the
  elastic-blast source lines that run them.
- `state`: their shared scenario state, call log and failure injection.
- `objects`: what gs:// is for them: a local directory, or the real gcp-storage-emulator (where blastflow reads).
- `scenario`: named states of a GKE search (provisioning, running, success, failure, cluster missing, ...).
- `cluster`: the cluster's own work, once a test starts it: the Jobs `elastic-blast submit` applied run as GKE
  and ElasticBLAST's images would run them (setup, one BLAST job per batch with real BLAST+, exports into
  gs://), and their pods served to the fake Kubernetes API (`GkePods`).
- `world`: the `gcp_world` pytest fixture and `GcpWorld`, wiring it all (registered in tests/conftest.py).

What each command must answer was found by running the real 1.5.0 against them; the behaviour they
reproduce is summed up in elastic-blast-facts.md.
"""
