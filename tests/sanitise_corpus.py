"""Real-looking log text for the sanitiser: terminal control, secrets, and lines that must pass unchanged.

Shared by tests/test_sanitise.py, the fault suite and bench/bench_sanitise.py
(``from tests.sanitise_corpus import SECRET_LINES, CLEAN_LINES``). Importing it
registers `REGISTERED_SECRETS` with `blastflow.sanitise.register_secret`, as the
program registers the secrets it is configured with.

- `TERMINAL_CASES`: (raw, expected) pairs: coloured CLI output, cursor/erase, OSC, CR progress, control chars.
- `SECRET_CASES`: one `SecretCase` per secret form, with the exact expected output.
- `SECRET_LINES`: (line, secret_substring) pairs; the substring must never survive `sanitise`.
- `CLEAN_LINES`: lines that must pass `sanitise` unchanged.
- `AZURE_SDK_DUMP`: one multi-line azure.core http_logging_policy request/response record, and its sanitised form.
- `FASTA_FILES`: the bundled sample sequences (every line must pass unchanged).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import NamedTuple

from blastflow.sanitise import register_secret

__all__ = [
    "AZURE_SDK_DUMP",
    "AZURE_SDK_DUMP_SANITISED",
    "CLEAN_LINES",
    "FASTA_FILES",
    "REGISTERED_SECRETS",
    "SECRET_CASES",
    "SECRET_LINES",
    "TERMINAL_CASES",
    "SecretCase",
    "fasta_lines",
]

ESC = "\x1b"
FASTA_FILES = sorted((Path(__file__).resolve().parents[1] / "data" / "sinvicta").glob("*.fasta"))


def _b64(seed: str, digest: str = "sha512") -> str:
    return base64.b64encode(hashlib.new(digest, seed.encode()).digest()).decode()


# Stand-ins shaped exactly like the real thing (a storage key is 64 random bytes in base64).
ACCOUNT_KEY = _b64("blastflow-corpus-account-key")  # 88 characters, ends with "=="
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="  # published
SB_KEY = _b64("blastflow-corpus-servicebus", "sha256")
SAS_SIG = "sne3%2BYfbw25w6WlX%2FJL2t5lmF8GlyeWE1SUZdFiqwUw%3D"
SAS_QUERY = (
    f"sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2026-06-01T00:00:00Z&st=2026-05-22T00:00:00Z&spr=https&sig={SAS_SIG}"
)
JWT = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ik1uQ19WWmNBVGZNNXBPWWlKSE1iYTlnb0VLWSJ9"
    ".eyJhdWQiOiJodHRwczovL3N0b3JhZ2UuYXp1cmUuY29tIiwiaXNzIjoiaHR0cHM6Ly9zdHMud2luZG93cy5uZXQvIn0"
    ".Zm9vYmFyc2lnbmF0dXJlMTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6"
)
OPAQUE_TOKEN = "0.AXoA7kQ9mZ3vW2q8Lr4TtYhB5cVn1JpK6sDf"
SHARED_KEY_SIG = _b64("blastflow-corpus-sharedkey", "sha256")
GITHUB_TOKEN = "ghp_" + hashlib.sha256(b"blastflow-corpus-gh").hexdigest()[:36]
PEM_BODY = "\n".join(_b64(f"pem-{i}")[:64] for i in range(4))
REGISTERED_SECRETS = ("Zq7vN-pipeline-only-value-1d9c", "blastflow-table-conn-42f1e0")

for _value in REGISTERED_SECRETS:
    register_secret(_value)


class SecretCase(NamedTuple):
    """One secret form: the raw line, the secret in it, and the exact sanitised line."""

    form: str
    line: str
    secret: str
    expected: str


SECRET_CASES: list[SecretCase] = [
    SecretCase(
        "bare storage account key",
        f"2026-05-22 17:28:04,123 DEBUG: using storage key {ACCOUNT_KEY} for myacct",
        ACCOUNT_KEY,
        "2026-05-22 17:28:04,123 DEBUG: using storage key *** for myacct",
    ),
    SecretCase(
        "storage connection string (AccountKey=)",
        f"DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net",
        ACCOUNT_KEY,
        "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=***;EndpointSuffix=core.windows.net",
    ),
    SecretCase(
        "Azurite connection string in an env dump",
        "BLASTFLOW_STORE_URL=DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
        AZURITE_KEY,
        "BLASTFLOW_STORE_URL=DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=***;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
    ),
    SecretCase(
        "Service Bus connection string (SharedAccessKey=)",
        "Endpoint=sb://blast-ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={SB_KEY}",
        SB_KEY,
        "Endpoint=sb://blast-ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=***",
    ),
    SecretCase(
        "SAS connection string (SharedAccessSignature=)",
        f"BlobEndpoint=https://myacct.blob.core.windows.net/;SharedAccessSignature={SAS_QUERY}",
        SAS_SIG,
        "BlobEndpoint=https://myacct.blob.core.windows.net/;SharedAccessSignature=***",
    ),
    SecretCase(
        "SAS URL in azcopy output",
        f"INFO: Scanning https://myacct.blob.core.windows.net/results/elb-5f2c/batch_000-blastn-nt.out.gz?{SAS_QUERY}",
        SAS_QUERY,
        "INFO: Scanning https://myacct.blob.core.windows.net/results/elb-5f2c/batch_000-blastn-nt.out.gz?***",
    ),
    SecretCase(
        "bare SAS query string (sig=)",
        f"elastic-blast: container token sp=rl&se=2026-06-01T00:00:00Z&sig={SAS_SIG}&spr=https",
        SAS_SIG,
        "elastic-blast: container token sp=rl&se=2026-06-01T00:00:00Z&sig=***&spr=https",
    ),
    SecretCase(
        "Authorization header, plain, Bearer JWT",
        f"> Authorization: Bearer {JWT}",
        JWT,
        "> Authorization: ***",
    ),
    SecretCase(
        "Authorization header, Python dict (azure http_logging_policy), SharedKey",
        f"    'Authorization': 'SharedKey myacct:{SHARED_KEY_SIG}'",
        SHARED_KEY_SIG,
        "    'Authorization': '***'",
    ),
    SecretCase(
        "Authorization header, JSON",
        f'{{"method": "GET", "headers": {{"Authorization": "Bearer {OPAQUE_TOKEN}", "Accept": "*/*"}}}}',
        OPAQUE_TOKEN,
        '{"method": "GET", "headers": {"Authorization": "***", "Accept": "*/*"}}',
    ),
    SecretCase(
        "Authorization header, Basic",
        "Authorization: Basic Ymxhc3Q6aHVudGVyMi1wYXNzd29yZA==",
        "Ymxhc3Q6aHVudGVyMi1wYXNzd29yZA==",
        "Authorization: ***",
    ),
    SecretCase(
        "bare bearer token",
        f"DEBUG msal: attaching Bearer {OPAQUE_TOKEN} to the request",
        OPAQUE_TOKEN,
        "DEBUG msal: attaching Bearer *** to the request",
    ),
    SecretCase(
        "bare JWT",
        f"kubelogin: cached credential {JWT} expires 2026-05-22T18:28:04Z",
        JWT,
        "kubelogin: cached credential *** expires 2026-05-22T18:28:04Z",
    ),
    SecretCase(
        "access_token in JSON",
        f'{{"token_type": "Bearer", "expires_in": 3599, "access_token": "{JWT}"}}',
        JWT,
        '{"token_type": "Bearer", "expires_in": 3599, "access_token": "***"}',
    ),
    SecretCase(
        "password in key=value form",
        "2026-05-22 17:30:00 INFO connecting to registry user=blastacr password=Tr0ub4dor-3x port=443",
        "Tr0ub4dor-3x",
        "2026-05-22 17:30:00 INFO connecting to registry user=blastacr password=*** port=443",
    ),
    SecretCase(
        "password in JSON",
        '{"username": "blast", "password": "s3cr3t!Pass word", "host": "db.internal"}',
        "s3cr3t!Pass word",
        '{"username": "blast", "password": "***", "host": "db.internal"}',
    ),
    SecretCase(
        "client_secret in a Python dict",
        "credential kwargs: {'tenant_id': 'contoso.onmicrosoft.com', 'client_secret': 'Q8Z8Q~aB3dE5fG7hJ9kL1'}",
        "Q8Z8Q~aB3dE5fG7hJ9kL1",
        "credential kwargs: {'tenant_id': 'contoso.onmicrosoft.com', 'client_secret': '***'}",
    ),
    SecretCase(
        "secret in an environment variable",
        "export AZURE_CLIENT_SECRET=Vq~8Q.xyzT3stS3cretValue_1",
        "Vq~8Q.xyzT3stS3cretValue_1",
        "export AZURE_CLIENT_SECRET=***",
    ),
    SecretCase(
        "client_secret in a token request body",
        "POST /contoso/oauth2/v2.0/token grant_type=client_credentials&client_id=1f2e&client_secret=aZ9~kLm0&scope=x",
        "aZ9~kLm0",
        "POST /contoso/oauth2/v2.0/token grant_type=client_credentials&client_id=1f2e&client_secret=***&scope=x",
    ),
    SecretCase(
        "api-key header",
        "api-key: 4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c",
        "4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c",
        "api-key: ***",
    ),
    SecretCase(
        "Ocp-Apim-Subscription-Key header, Python dict",
        "    'Ocp-Apim-Subscription-Key': '9b8a7c6d5e4f30211f2e3d4c5b6a7980'",
        "9b8a7c6d5e4f30211f2e3d4c5b6a7980",
        "    'Ocp-Apim-Subscription-Key': '***'",
    ),
    SecretCase(
        "credentials in a URL",
        "sqlalchemy.engine: connecting to postgresql://blast:Sup3rS3cret@db.internal:5432/jobs",
        "Sup3rS3cret",
        "sqlalchemy.engine: connecting to postgresql://blast:***@db.internal:5432/jobs",
    ),
    SecretCase(
        "AWS access key id",
        "botocore.credentials: Found credentials in environment variables. key id AKIAIOSFODNN7EXAMPLE",
        "AKIAIOSFODNN7EXAMPLE",
        "botocore.credentials: Found credentials in environment variables. key id ***",
    ),
    SecretCase(
        "AWS secret access key in an ini line",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = ***",
    ),
    SecretCase(
        "GitHub token",
        f"git: fetching with {GITHUB_TOKEN}",
        GITHUB_TOKEN,
        "git: fetching with ***",
    ),
    SecretCase(
        "CLI flag value (az --account-key)",
        "+ az storage blob upload --account-name myacct --account-key c2VjcmV0LWtleS12YWx1ZQ --name q.fa",
        "c2VjcmV0LWtleS12YWx1ZQ",
        "+ az storage blob upload --account-name myacct --account-key *** --name q.fa",
    ),
    SecretCase(
        "CLI flag value (docker --password)",
        "+ docker login blastacr.azurecr.io --username blastacr --password 'p@ss w0rd'",
        "p@ss w0rd",
        "+ docker login blastacr.azurecr.io --username blastacr --password '***'",
    ),
    SecretCase(
        "ElasticBLAST ini key",
        "azure-storage-account-key = f00dfeedcafe1234beef5678",
        "f00dfeedcafe1234beef5678",
        "azure-storage-account-key = ***",
    ),
    SecretCase(
        "Kubernetes secret data in kubectl output",
        "  token: ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklpSjk=",
        "ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklpSjk=",
        "  token: ***",
    ),
    SecretCase(
        "SQL connection string (Password=)",
        "Server=tcp:blast.database.windows.net,1433;Database=jobs;User ID=blast;Password=P4ssw0rd!x;Encrypt=true",
        "P4ssw0rd!x",
        "Server=tcp:blast.database.windows.net,1433;Database=jobs;User ID=blast;Password=***;Encrypt=true",
    ),
    SecretCase(
        "PEM private key",
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
        PEM_BODY.split("\n")[1],
        "***",
    ),
    SecretCase(
        "registered exact value (no pattern would catch it)",
        f"prefect: loaded block value {REGISTERED_SECRETS[0]} for the run",
        REGISTERED_SECRETS[0],
        "prefect: loaded block value *** for the run",
    ),
    SecretCase(
        "registered value split by colour codes",
        f"value \x1b[1m{REGISTERED_SECRETS[1][:8]}\x1b[0m{REGISTERED_SECRETS[1][8:]} in use",
        REGISTERED_SECRETS[1],
        "value *** in use",
    ),
    SecretCase(
        "secret inside colour codes",
        f"\x1b[33mWARNING: AccountKey={ACCOUNT_KEY}\x1b[0m",
        ACCOUNT_KEY,
        "WARNING: AccountKey=***",
    ),
]

SECRET_LINES: list[tuple[str, str]] = [(case.line, case.secret) for case in SECRET_CASES]

TERMINAL_CASES: list[tuple[str, str]] = [
    # elastic-blast: coloured WARNING/ERROR lines as the helper printed them (fix C of the notes)
    (
        f"{ESC}[33m[parallel-prep] running 4 azcopy checks concurrently{ESC}[0m",
        "[parallel-prep] running 4 azcopy checks concurrently",
    ),
    (
        f"{ESC}[1;31mERROR: Cluster blast-cluster-7 was not found{ESC}[0m",
        "ERROR: Cluster blast-cluster-7 was not found",
    ),
    (f"{ESC}[38;5;208mWARNING{ESC}[39m: quota for cores is 80% used", "WARNING: quota for cores is 80% used"),
    (f"{ESC}[38;2;255;128;0mINFO{ESC}[m: Submitting jobs to cluster", "INFO: Submitting jobs to cluster"),
    (f"{ESC}[1m{ESC}[32m✔{ESC}[0m Uploaded 9 query batches", "✔ Uploaded 9 query batches"),
    # cursor movement, erase line/screen, hide/show cursor
    (f"{ESC}[2K{ESC}[1A{ESC}[2KSubmitting 9 jobs", "Submitting 9 jobs"),
    (f"{ESC}[?25lWaiting for pods{ESC}[?25h", "Waiting for pods"),
    (f"{ESC}[2J{ESC}[H{ESC}[3;1Hkubectl get pods -l app=blast", "kubectl get pods -l app=blast"),
    (f"{ESC}[s{ESC}[10C{ESC}[0K done{ESC}[u", " done"),
    # OSC: window titles (BEL and ST terminated), OSC 8 hyperlinks
    (
        f"{ESC}]0;elastic-blast submit{ESC}\\Starting elastic-blast submit helper job",
        "Starting elastic-blast submit helper job",
    ),
    (f"{ESC}]2;azcopy copy{chr(7)}INFO: azcopy 10.26.0", "INFO: azcopy 10.26.0"),
    (
        f"See {ESC}]8;;https://portal.azure.com/#resource/sub/rg/blast{ESC}\\the portal{ESC}]8;;{ESC}\\ for details",
        "See the portal for details",
    ),
    (f"{ESC}]8;id=1;https://example.org/log{chr(7)}job log{ESC}]8;;{chr(7)}", "job log"),
    # other ESC sequences and a lone ESC
    (f"{ESC}(B{ESC}7pod blastn-batch-nt-job-000 Running{ESC}8", "pod blastn-batch-nt-job-000 Running"),
    (f"Interrupted {ESC}", "Interrupted "),
    (f"{ESC}", ""),
    ("\x9b31mC1 control sequence introducer\x9b0m", "C1 control sequence introducer"),
    # carriage-return progress bars: the last drawing stays
    (
        "\r0.0 %, 0 Done, 0 Failed, 9 Pending, 0 Skipped, 9 Total,"
        "\r55.6 %, 5 Done, 0 Failed, 4 Pending, 0 Skipped, 9 Total,"
        "\r100.0 %, 9 Done, 0 Failed, 0 Pending, 0 Skipped, 9 Total, 2-sec Throughput (Mb/s): 12.3",
        "100.0 %, 9 Done, 0 Failed, 0 Pending, 0 Skipped, 9 Total, 2-sec Throughput (Mb/s): 12.3",
    ),
    (
        f"{ESC}[2K\rDownloading nt.00.tar.gz  12%{ESC}[2K\rDownloading nt.00.tar.gz 100%\r\n",
        "Downloading nt.00.tar.gz 100%\n",
    ),
    ("status line\r\n", "status line\n"),
    # other control characters; tab stays
    ("Job done\x07\x07", "Job done"),
    ("NUL\x00 in\x00 the middle", "NUL in the middle"),
    ("form\x0cfeed and vertical\x0btab", "formfeed and verticaltab"),
    ("deleted\x7f char and next-line\x85 C1", "deleted char and next-line C1"),
    ("backspace spinner |\x08/\x08-", "backspace spinner |/-"),
    ("query\u202eatad\u202c reversed", "queryatad reversed"),
    ("keep\ttabs\tin\tplace", "keep\ttabs\tin\tplace"),
]

CLEAN_LINES: list[str] = [
    # elastic-blast
    "2026-05-22 17:28:04,123 INFO: Splitting queries into batches",
    "2026-05-22 17:28:05,456 INFO: 9 batches, 1,234,567 base/residue total",
    "2026-05-22 17:28:09,001 INFO: Submitting jobs to cluster",
    "WARNING: ELB_DISABLE_AUTO_SHUTDOWN is set: the cluster will not be deleted automatically",
    "Pending 2",
    "Running 7",
    "Succeeded 0",
    "Failed 0",
    "Your ElasticBLAST search succeeded, results can be found in https://myacct.blob.core.windows.net/results/elb-5f2c",
    "elastic-blast submit --cfg /tmp/job-5f2c/elastic-blast.ini --loglevel DEBUG --logfile stderr",
    "[blast]\tprogram = blastn\tdb = nt\toptions = -evalue 1e-5 -max_target_seqs 50",
    "azure-storage-account = myacct",
    # azcopy and az
    "INFO: Scanning...",
    "INFO: Authenticating to destination using Azure AD",
    "Job 9b1c7f3e-2a4d-4e6f-8a9b-0c1d2e3f4a5b has started",
    "Log file is located at: /root/.azcopy/9b1c7f3e-2a4d-4e6f-8a9b-0c1d2e3f4a5b.log",
    "Final Job Status: Completed",
    "Number of File Transfers: 9",
    "Total Number of Bytes Transferred: 1234567",
    "AzureCliCredential.get_token_info succeeded",
    "DefaultAzureCredential acquired a token from AzureCliCredential",
    # kubectl
    "NAME                             READY   STATUS      RESTARTS   AGE",
    "blastn-batch-nt-job-000-x7k2p    1/1     Running     0          42s",
    "blastn-batch-nt-job-001-q9d4m    0/2     Completed   0          3m12s",
    "job.batch/blastn-batch-nt-job-000 created",
    'Error from server (NotFound): pods "blastn-batch-nt-job-009" not found',
    "kubectl get secret blast-sa-token -o name",
    # azure SDK chatter that carries no secret
    "Request URL: 'https://myacct.table.core.windows.net/Tables'",
    "Request method: 'POST'",
    "    'Content-Type': 'application/json;odata=nometadata'",
    "    'x-ms-date': 'Fri, 22 May 2026 17:28:04 GMT'",
    "    'x-ms-client-request-id': '3f1c2b4a-1d2e-11ef-9a8b-0242ac120002'",
    "    'ETag': 'W/\"datetime'2026-05-22T17%3A28%3A04.5123456Z'\"'",
    "Response status: 204",
    # Prefect
    "17:28:04.123 | INFO    | prefect.engine - Created flow run 'amber-koala' for flow 'blast-search'",
    "17:28:05.456 | INFO    | Task run 'submit-0' - Finished in state Completed()",
    "17:29:01.000 | INFO    | Flow run 'amber-koala' - Finished in state Completed('All states completed.')",
    "Secret block 'blastflow-table' loaded; 3 deployments registered",
    # BLAST output
    "SI2.2.0_06267\tSI2.2.0_06267\t100.000\t1506\t0\t0\t1\t1506\t1\t1506\t0.0\t2782",
    "SI2.2.0_13308\tsp|P35527|K1C9_HUMAN\t41.860\t129\t71\t2\t12\t136\t3\t127\t2.11e-18\t79.3",
    "Query= SI2.2.0_06267 locus=Si_gnF.scaffold02592[1282609..1284114].pep_2 quality=100.00",
    " Score = 350 bits (898),  Expect = 1e-95, Method: Compositional matrix adjust.",
    " Identities = 170/180 (94%), Positives = 175/180 (97%), Gaps = 0/180 (0%)",
    "Query  1    MNTLWLSLWDYPGKLPLNFMVFDTKDDLQAAYWRDPYSIPLAVIFEDPQPISQRLIYEIR  60",
    "Lambda      K        H        a         alpha",
    "BLASTN 2.15.0+ (Basic Local Alignment Search Tool)",
    # words near the secret rules that are not secrets
    "tokens=5 max_tokens: 12 token_count=3 num_tokens=12",
    "RowKey=submit:0000000042 PartitionKey=5f2c7d1e",
    "Using bearer token authentication for the Kubernetes API",
    "authorization failed for user blast: check the role binding",
    "signature verified; secret_name=blast-sa; keyspace=jobs",
    "Basic auth disabled",
    "if total == expected: all batches are done",
    "Pulling image mcr.microsoft.com/blast@sha256:4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c",
    "query coverage 97%, e-value 1e-50, bit score 350.2",
    "",
    "\t",
    "Unicode stays: Solenopsis invicta ♀ 5′-UTR → 3′-UTR, µg/ml, 火蚁",
]

# One http_logging_policy record, as the Azure SDK logs it with logging_enable=True.
AZURE_SDK_DUMP = "\n".join(
    [
        "INFO:azure.core.pipeline.policies.http_logging_policy:Request URL: "
        f"'https://myacct.blob.core.windows.net/results/elb-5f2c/metadata/SUCCESS.txt?{SAS_QUERY}'",
        "Request method: 'GET'",
        "Request headers:",
        "    'x-ms-range': 'bytes=0-33554431'",
        "    'x-ms-version': '2025-01-05'",
        "    'Accept': 'application/xml'",
        "    'User-Agent': 'azsdk-python-storage-blob/12.26.0 Python/3.11.7 (Linux-6.1.0-x86_64-with-glibc2.36)'",
        "    'x-ms-date': 'Fri, 22 May 2026 17:28:04 GMT'",
        f"    'Authorization': 'Bearer {JWT}'",
        "    'x-ms-client-request-id': '3f1c2b4a-1d2e-11ef-9a8b-0242ac120002'",
        "No body was attached to the request",
        "INFO:azure.core.pipeline.policies.http_logging_policy:Response status: 206",
        "Response headers:",
        "    'Content-Length': '3'",
        "    'Content-Type': 'application/octet-stream'",
        "    'ETag': '\"0x8DC7A1B2C3D4E5F\"'",
        "    'Server': 'Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0'",
        "    'x-ms-request-id': '8d1e2f3a-001e-0042-7a1b-2c3d4e000000'",
    ]
)
AZURE_SDK_DUMP_SANITISED = AZURE_SDK_DUMP.replace(SAS_QUERY, "***").replace(f"Bearer {JWT}", "***")


def fasta_lines() -> list[str]:
    """Every line of the bundled sample FASTA files (DNA and protein)."""
    return [line for path in FASTA_FILES for line in path.read_text().splitlines()]
