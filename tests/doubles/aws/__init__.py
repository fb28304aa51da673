"""TEST DOUBLES of what lies beyond the network for the REAL `elastic-blast` 1.5.0 on AWS, beside moto's server.

elastic-blast reaches AWS through boto3 (plus `aws --version` and `aws s3 ls`); moto's server (the session's
`moto_s3`, tests/doubles/storage_emulators.py) emulates S3, STS, EC2, IAM, CloudFormation — ElasticBLAST's own
template included — and AWS Batch's bookkeeping. These doubles replace the rest, so that the real CLI from PyPI
runs unchanged (`submit --dry-run`, `submit`, `status --exit-code --verbose`, `delete`):

- `boto3_hook` (+ `site/sitecustomize.py`, which installs it): inside elastic-blast's process, answers what moto
  lacks — the quota check's Service Quotas, ReservedInstances and AccountLimits calls, and AWS Batch job states
  (ListJobs, DescribeJobs) from a job table — and lets a test inject AWS errors. Each answer cites the
  elastic_blast file:line that asks.
- `aws_cli`: the `aws` program (`aws --version`, `aws s3 ls s3://...` of a user's database), behind a launcher.
- `batch`: AWS Batch's compute side: moves the job states (SUBMITTED → RUNNABLE → STARTING → RUNNING →
  SUCCEEDED/FAILED) and runs each job's container as its job definition says: `job_submission` (the real
  elastic_blast code of the job-submission container) and `BlastContainer` (docker-blast's
  splitq_download_db_search with real BLAST+, writing results into S3 in the upstream layout).
- `world`: `AwsWorld`, wiring moto and these doubles for one test (environment, bucket, database upload, call log).

What each must answer was found by running the real 1.5.0 against moto (elastic-blast-facts.md).
"""
