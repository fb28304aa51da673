"""TEST DOUBLE of ElasticBLAST's job-submission container on AWS Batch (image `elasticblast-job-submit`).

`elastic-blast submit` on AWS hands the BLAST jobs over to one AWS Batch job (aws.py:768-814 `_cloud_submit`)
whose container runs upstream's docker-job-submit/submit_jobs.py (ncbi/elastic-blast, the version the 1.5.0
template calls: templates/elastic-blast-cf.yaml:703-706, `submit_jobs.py --results Ref::bucket --loglevel
Ref::loglevel --logfile Ref::logfile`). That script is a few lines over the `elastic_blast` package: load the
search's configuration from `<results>/metadata/elastic-blast-config.json`, validate it, then
`ElasticBlastAws(cfg, False).client_submit(query batches in <results>/query_batches/, False)`, which submits
one BLAST job per batch (aws.py:817-917) and records their ids in `<results>/metadata/job-ids-v2.json`.

This program does the same with the REAL `elastic_blast` 1.5.0 package, so it must run under elastic-blast's
own interpreter (.venv-elb); `batch.BatchCompute` starts it when the job-submission job runs, with the
boto3 double on PYTHONPATH, so the BLAST jobs it submits enter the double's job table as SUBMITTED.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="ElasticBLAST job submission (test double of submit_jobs.py)")
    parser.add_argument("--results", required=True)
    parser.add_argument("--logfile", default="stderr")
    parser.add_argument("--loglevel", default="DEBUG")
    args = parser.parse_args(argv)

    import logging

    from elastic_blast.aws import ElasticBlastAws
    from elastic_blast.constants import ELB_META_CONFIG_FILE, ELB_METADATA_DIR, ElbCommand
    from elastic_blast.elb_config import ElasticBlastConfig
    from elastic_blast.filehelper import harvest_query_splitting_results, open_for_read
    from elastic_blast.util import config_logging

    config_logging(args)
    with open_for_read(os.path.join(args.results, ELB_METADATA_DIR, ELB_META_CONFIG_FILE)) as handle:
        cfg = ElasticBlastConfig.from_json(handle.read())
    cfg.validate(ElbCommand.SUBMIT)
    search = ElasticBlastAws(cfg, False)
    batches = harvest_query_splitting_results(cfg.cluster.results)
    logging.info(f"Submitting jobs for query batches: {' '.join(batches.query_batches)}")
    search.client_submit(batches.query_batches, False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
