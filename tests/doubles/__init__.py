"""Test doubles and fault-injection helpers, imported as `from tests.doubles.<module> import ...`.

Doubles (each module's docstring names what it imitates):

- `fake_cluster`: the cluster state behind the two doubles below (pods, exports, scenarios).
- `fake_k8s`: a Kubernetes API server over HTTP, for the real Kubernetes clients.
- `fake_elastic_blast`: the `elastic-blast` CLI (submit, status, delete); run as a program
  (`python -m tests.doubles.fake_elastic_blast`, through a launcher from `elb_doubles.module_launcher`).
- `elb_wrapper`: an `elastic-blast` that prints extra lines and records its output around the fake; also a program.
- `lossy_proxy`: a TCP proxy that loses the response to chosen requests (a network failing after the send).
- `scripted_backend`: a `Backend` that replays scripted pod counts, statuses and pod logs; and a fake clock.
- `spawn_record`: recording shims for BLAST+ and `elastic-blast` on PATH (spies: log each start, run the real one).
- `fake_gcp_oauth`: Google's OAuth token endpoint for service-account keys (refuses a wrong key as Google does).
- `gcp_cli`: gcloud, gsutil, kubectl and gke-gcloud-auth-plugin, offline, for the REAL `elastic-blast` 1.5.0 on GCP
  (programs behind launchers on PATH, a scripted scenario state, a call log); its `world` module holds the
  `gcp_world` fixture, registered for the whole suite by `pytest_plugins` in tests/conftest.py.
- `aws`: what lies beyond moto's server for the REAL `elastic-blast` 1.5.0 on AWS: a boto3 hook (quota checks,
  Batch job states), AWS Batch running the job definitions' containers with real BLAST+, the job-submission
  container, an `aws` CLI stand-in; `aws.world.AwsWorld` wires them.

Helpers:

- `elb_doubles`: pytest fixtures wiring the ElasticBLAST doubles together (`elb_world`), registered for the
  whole suite by `pytest_plugins` in tests/conftest.py.
- `faultkit`: what the fault suites share: flow processes to start and kill, waits, /proc checks, page renders.
- `storage_emulators`: the S3 (moto server) and GCS (gcp-storage-emulator) emulators as session fixtures
  (`moto_s3`, `gcs_emulator`, `gcp_oauth`), registered for the whole suite by `pytest_plugins`.
"""
