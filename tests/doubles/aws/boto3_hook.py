"""TEST DOUBLE of the parts of AWS that moto's server does not emulate for the real `elastic-blast` 1.5.0.

An import hook, not a program: site/sitecustomize.py (beside this module) installs it in every Python started with
PYTHONPATH=<this package>/site and BOTO3_DOUBLE_STATE set (the real elastic-blast, and the job-submission
container of `batch.py`). It wraps `botocore.client.BaseClient._make_api_call`, so it sees the clients of
every boto3 session (awslimitchecker makes its own). Everything it does not answer goes to moto's server
(AWS_ENDPOINT_URL): S3, STS, EC2, IAM, CloudFormation (ElasticBLAST's own template) and Batch bookkeeping.

What it answers, and who asks (file:line in the `elastic_blast` package of 1.5.0 unless named):

- `service-quotas.ListServiceQuotas`: resources/quotas/quota_aws_batch.py:44-49 (needs the quotas
  "Job queue limit" and "Compute environment limit", else `submit` exits 7) and awslimitchecker/quotas.py:84;
  moto 5.2 has no Service Quotas (HTTP 500, `submit` crashes with exit 1).
- `ec2.DescribeReservedInstances` (awslimitchecker/services/ec2.py:283) and
  `cloudformation.DescribeAccountLimits` (awslimitchecker/services/cloudformation.py:111): the quota check of
  commands/submit.py:122-123 (check_resource_quotas); moto does not implement them.
- `batch.SubmitJob` (aws.py:810 `_cloud_submit`, aws.py:903 `client_submit`): passed to moto, which
  keeps the job (id, ARN, definition, parameters, container command); the job then starts in the state
  AWS Batch gives a new job, SUBMITTED, in this double's job table.
- `batch.ListJobs` (aws.py:1067-1075 `_check_status_extended`, the `status --verbose` listing; aws.py:927-935
  `get_job_ids`) and `batch.DescribeJobs` (aws.py:1045 `_check_status`; aws.py:732): answered from the job
  table. moto's Batch runs no containers (Docker off) and marks every job SUCCEEDED at once, so the states a
  search goes through (SUBMITTED, RUNNABLE, STARTING, RUNNING, SUCCEEDED, FAILED, with `statusReason` and the
  container's exit code) are the table's: `batch.BatchCompute` moves them as the real containers would run.
- any operation named in `errors`: a `ClientError` with that code and HTTP status (faults a test injects).

State: the JSON file $BOTO3_DOUBLE_STATE, re-read on every call and written under an fcntl lock on
`<state>.lock` (the test process changes it between calls):

    {"jobs": [{"jobId", "jobArn", "jobName", "jobQueue", "status", "createdAt", "startedAt", "stoppedAt",
               "statusReason", "container": {"exitCode", "reason"}}],
     "responses": {"service.Operation": {...}},                 canned answers (beside the defaults below)
     "errors": {"service.Operation": {"Code", "Message", "status"}}}

A call that would leave this machine (an endpoint other than loopback) raises instead: the tests never reach the
real AWS. Every call is appended to `<state>.calls.jsonl` (service, operation, HTTP status, who answered: "double",
"moto", "error"). Standard library and botocore only: it runs inside elastic-blast's own interpreter.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DEFAULT_RESPONSES", "STATE_ENV", "install", "locked_state", "read_state"]

STATE_ENV = "BOTO3_DOUBLE_STATE"
DEFAULT_RESPONSES: dict[str, dict[str, Any]] = {
    "service-quotas.ListServiceQuotas": {"Quotas": [
        {"ServiceCode": "batch", "QuotaName": "Job queue limit", "Value": 50.0},
        {"ServiceCode": "batch", "QuotaName": "Compute environment limit", "Value": 50.0}]},
    "ec2.DescribeReservedInstances": {"ReservedInstances": []},
    "cloudformation.DescribeAccountLimits": {"AccountLimits": [
        {"Name": "StackLimit", "Value": 2000}, {"Name": "StackOutputsLimit", "Value": 200}]},
}  # fmt: skip
# What AWS Batch's ListJobs returns per job (JobSummary), of what the table holds.
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_SUMMARY_KEYS = ("jobArn", "jobId", "jobName", "status", "statusReason", "createdAt", "startedAt", "stoppedAt",
                 "container")  # fmt: skip


@contextlib.contextmanager
def locked_state(path: str) -> Iterator[dict[str, Any]]:
    """The state at `path` under an exclusive lock; what the caller changes in it is written back atomically."""
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = _load(path)
            yield data
            temporary = f"{path}.{os.getpid()}.tmp"
            with open(temporary, "w") as handle:
                json.dump(data, handle, indent=1)
            os.replace(temporary, path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_state(path: str) -> dict[str, Any]:
    """The state at `path` as it is now (the writers replace the file atomically, so no lock is needed)."""
    return _load(path)


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        data = {}
    data.setdefault("jobs", [])
    data.setdefault("responses", {})
    data.setdefault("errors", {})
    return data


def _log(path: str, service: str, operation: str, status: int, answered_by: str, error: str = "") -> None:
    entry = {"t": round(time.time(), 3), "pid": os.getpid(), "service": service, "operation": operation,
             "status": status, "by": answered_by, "error": error}  # fmt: skip
    with open(f"{path}.calls.jsonl", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(json.dumps(entry) + "\n")
        fcntl.flock(handle, fcntl.LOCK_UN)


def _same_queue(asked: str | None, job: dict[str, Any]) -> bool:
    """ListJobs names the queue by name or ARN, as SubmitJob did (ElasticBLAST passes the stack's output)."""
    queue = job.get("jobQueue", "")
    return not asked or asked == queue or asked.rsplit("/", 1)[-1] == queue.rsplit("/", 1)[-1]


def _batch_answer(operation: str, params: dict[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    if operation == "ListJobs":
        wanted = params.get("jobStatus", "RUNNING")  # the AWS API's default
        return {"jobSummaryList": [{k: job[k] for k in _SUMMARY_KEYS if k in job} for job in jobs
                                   if job["status"] == wanted and _same_queue(params.get("jobQueue"), job)]}
    if operation == "DescribeJobs":
        asked = set(params.get("jobs", []))
        return {"jobs": [dict(job) for job in jobs if job["jobId"] in asked]}
    return None


def _record_submission(path: str, params: dict[str, Any], result: dict[str, Any]) -> None:
    """A job AWS Batch accepted starts SUBMITTED."""
    with locked_state(path) as state:
        state["jobs"].append({"jobId": result["jobId"], "jobArn": result.get("jobArn", ""),
                              "jobName": result.get("jobName", params.get("jobName", "")),
                              "jobQueue": params.get("jobQueue", ""), "status": "SUBMITTED",
                              "createdAt": int(time.time() * 1000)})  # fmt: skip


def install(client_module: Any = None) -> None:
    """Wrap botocore's API call so that the calls above are answered here (idempotent).

    Args:
        client_module: `botocore.client`, when the caller has it while it is still being imported.
    """
    if client_module is None:
        import botocore.client as client_module
    from botocore.exceptions import ClientError
    from botocore.validate import validate_parameters

    base = client_module.BaseClient
    original = base._make_api_call
    if getattr(original, "_boto3_double", False):
        return

    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> dict[str, Any]:
        path = os.environ.get(STATE_ENV)
        if not path:
            return original(self, operation_name, api_params)
        service = self.meta.service_model.service_name
        key = f"{service}.{operation_name}"
        if urlsplit(self.meta.endpoint_url).hostname not in _LOOPBACK:
            raise RuntimeError(f"boto3 double: {key} would go to {self.meta.endpoint_url}, not to a local emulator "
                               "(set AWS_ENDPOINT_URL to moto's server)")  # fmt: skip
        # What botocore checks before sending: a missing jobQueue (no stack) is a ParamValidationError (aws.py:1002).
        validate_parameters(api_params, self.meta.service_model.operation_model(operation_name).input_shape)
        state = read_state(path)
        if key in state["errors"]:
            error = dict(state["errors"][key])
            status = int(error.get("status", 400))
            _log(path, service, operation_name, status, "error", error.get("Code", ""))
            raise ClientError({"Error": {"Code": error.get("Code", "Error"), "Message": error.get("Message", "")},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, operation_name)  # fmt: skip
        answer = {**DEFAULT_RESPONSES, **state["responses"]}.get(key)
        if answer is None and service == "batch":
            answer = _batch_answer(operation_name, api_params, state["jobs"])
        if answer is not None:
            _log(path, service, operation_name, 200, "double")
            return {**answer, "ResponseMetadata": {"HTTPStatusCode": 200}}
        try:
            result = original(self, operation_name, api_params)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            _log(path, service, operation_name, status, "moto", exc.response.get("Error", {}).get("Code", ""))
            raise
        if key == "batch.SubmitJob":
            _record_submission(path, api_params, result)
        _log(path, service, operation_name, result.get("ResponseMetadata", {}).get("HTTPStatusCode", 200), "moto")
        return result

    _make_api_call._boto3_double = True  # type: ignore[attr-defined]
    base._make_api_call = _make_api_call
