"""The `elastic-blast` backend: NCBI ElasticBLAST on Kubernetes (GKE, AWS, AKS through the Azure fork).

- `backend`: `ElasticBlastBackend`, the `Backend` protocol over the modules below.
- `profile`: the cluster profile (`BLASTFLOW_ELB_*` settings).
- `config`: the ElasticBLAST ini, built and checked before anything runs.
- `status`: `elastic-blast status` output and exit codes, parsed.
- `pods`: Kubernetes pods of a search (counts, problems, logs).
- `results`: result archives and markers in the results bucket, in the upstream or the fork's layout; the
  search's database fetched from its bucket for rendering.
- `storage`: the results bucket as an fsspec filesystem (gs://, s3://, Azure Blob), its errors translated.
- `credentials`: Prefect block lookups (Kubernetes, Azure, GCP and AWS credentials); the only module here that
  imports Prefect.
- `aio`: running the blocks' async clients from sync code.

Nothing here imports the local backend. Modules are imported by name, so this
package imports nothing itself (its dependencies load only when it is used).
"""
