"""The `local` backend: BLAST+ on this machine.

- `backend`: `LocalBackend`, the `Backend` protocol over the files below.
- `submit`: the submit child the flow streams; it starts the supervisor and exits.
- `supervisor`: runs one BLAST+ process per batch, with bounded concurrency and retries.
- `run_files`: the run's files (config, per-batch state and logs) both sides read and write.
- `database`: FASTA databases made into BLAST databases (makeblastdb) and existing ones found.

Nothing here imports the elastic-blast backend. Modules are imported by name
(`blastflow.backends.local.backend`), so this package imports nothing itself.
"""
