"""TEST DOUBLE of the Google Cloud SDK `gcloud` CLI (as gcloud 470 answers), for the real `elastic-blast` 1.5.0.

Run as a program (`python -m tests.doubles.gcp_cli.gcloud`, through the `gcloud` launcher that
`world.GcpWorld` writes first on PATH). It answers what elastic-blast 1.5.0 calls, from the scenario
state (`state.py`), never over the network. File:line in the elastic_blast package:

  gcloud --version                                                        gcp.py 998
  gcloud config get-value account | project ; config set project P        elb_config.py 258, util.py 569, gcp.py 604
  gcloud services list --enabled --format=value(config.name)
         --filter=config.name=API.googleapis.com --project P              gcp_traits.py 75-86 (6 APIs, twice)
  gcloud services enable API.googleapis.com --project P                   gcp_traits.py 84
  gcloud compute regions list --format json                               util.py 534
  gcloud compute regions describe R --project P --format json             gcp.py 473-492 (SSD_TOTAL_GB quota)
  gcloud container clusters list --format=value(status) --filter name=N   gcp.py 868
  gcloud container clusters list --format json --project P                gcp.py 813
  gcloud container clusters create N ... | get-credentials N | update N | delete N --quiet
                                                                          gcp.py 909-967, 833-842, 174, 976
  gcloud compute disks list|update|delete, compute snapshots list|delete  gcp.py 611-650, kubernetes.py 839
  (elastic-blast's misspelt `gcloud compute snaphots delete`, gcp.py 650, fails as real gcloud does: exit 2.)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from tests.doubles.gcp_cli.state import Call, Result, State, option, run_tool

__all__ = ["main"]

VERSION = (
    "Google Cloud SDK 470.0.0\nalpha 2024.03.29\nbeta 2024.03.29\nbq 2.1.3\ncore 2024.03.29\n"
    "gcloud-crc32c 1.0.0\ngke-gcloud-auth-plugin 0.5.8\ngsutil 5.27\nkubectl 1.29.2\n"
)
_TAKES_VALUE = frozenset(
    {"--project", "--zone", "--region", "--format", "--filter", "--machine-type", "--num-nodes", "--scopes",
     "--labels", "--node-pool", "--min-nodes", "--max-nodes", "--update-labels", "--cluster-version",
     "--node-version", "--local-ssd-count"}
)  # fmt: skip
_GKE_VERSION = "1.29.1-gke.1589017"

Handler = Callable[[list[str], list[str], dict[str, Any]], Result]


def _positionals(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _TAKES_VALUE
        else:
            out.append(arg)
    return out


def _invalid(group: str, choice: str) -> Result:
    return Result(2, "", f"ERROR: (gcloud{'.' + group if group else ''}) Invalid choice: '{choice}'.\n")


def _json(value: Any) -> Result:
    return Result(0, json.dumps(value, indent=2) + "\n")


# -- config, services ------------------------------------------------------------------------------------------
def _config_get(pos: list[str], _argv: list[str], data: dict[str, Any]) -> Result:
    value = data.get(pos[2] if len(pos) > 2 else "")
    return Result(0, f"{value}\n") if value else Result(0, "", "(unset)\n")


def _config_set(pos: list[str], _argv: list[str], data: dict[str, Any]) -> Result:
    data[pos[2]] = pos[3]
    return Result(0, "", f"Updated property [core/{pos[2]}].\n")


def _services_list(_pos: list[str], argv: list[str], data: dict[str, Any]) -> Result:
    wanted = (option(argv, "--filter") or "").partition("=")[2]
    enabled = data["apis_enabled"] or wanted in data["enabled_apis"]
    return Result(0, f"{wanted}\n" if enabled and wanted else "")


def _services_enable(pos: list[str], _argv: list[str], data: dict[str, Any]) -> Result:
    data["enabled_apis"].extend(pos[2:])
    return Result(0, "", 'Operation "operations/acf.p2-1234" finished successfully.\n')


# -- compute ----------------------------------------------------------------------------------------------------
def _regions_list(_pos: list[str], _argv: list[str], data: dict[str, Any]) -> Result:
    return _json([{"name": region, "status": "UP"} for region in data["regions"]])


def _regions_describe(pos: list[str], _argv: list[str], data: dict[str, Any]) -> Result:
    region = pos[3]
    if region not in data["regions"]:
        return Result(1, "", "ERROR: (gcloud.compute.regions.describe) Could not fetch resource:\n"
                             f" - Invalid value for field 'region': '{region}'. Unknown region.\n")  # fmt: skip
    quota = data["ssd_quota"]
    return _json({"name": region, "status": "UP", "quotas": [
        {"metric": "CPUS", "limit": 2400.0, "usage": 0.0},
        {"metric": "SSD_TOTAL_GB", "limit": float(quota["limit"]), "usage": float(quota["usage"])},
    ]})  # fmt: skip


def _disks_list(_pos: list[str], _argv: list[str], data: dict[str, Any]) -> Result:
    return _json([{"name": name, "zone": "zone"} for name in data["disks"]])


def _snapshots_list(_pos: list[str], _argv: list[str], data: dict[str, Any]) -> Result:
    return _json([{"name": name} for name in data["snapshots"]])


def _disks_update(pos: list[str], _argv: list[str], _data: dict[str, Any]) -> Result:
    return Result(0, "", f"Updating labels of disk [{pos[3]}]...done.\n")


def _disks_delete(pos: list[str], argv: list[str], data: dict[str, Any]) -> Result:
    name, project = pos[3], option(argv, "--project")
    if name not in data["disks"]:
        return Result(1, "", "ERROR: (gcloud.compute.disks.delete) Could not fetch resource:\n"
                             f" - The resource 'projects/{project}/zones/z/disks/{name}' was not found\n")  # fmt: skip
    data["disks"].remove(name)
    return Result(0, "", f"Deleted [https://www.googleapis.com/compute/v1/projects/{project}/disks/{name}].\n")


def _snapshots_delete(pos: list[str], _argv: list[str], data: dict[str, Any]) -> Result:
    if pos[3] in data["snapshots"]:
        data["snapshots"].remove(pos[3])
    return Result(0, "", f"Deleted snapshot [{pos[3]}].\n")


# -- container clusters -----------------------------------------------------------------------------------------
def _where(argv: list[str]) -> tuple[str, str]:
    return option(argv, "--project") or "test-project", option(argv, "--zone") or option(argv, "--region") or "z"


def _clusters_list(_pos: list[str], argv: list[str], data: dict[str, Any]) -> Result:
    clusters: dict[str, str] = data["clusters"]
    wanted = (option(argv, "--filter") or "").removeprefix("name=")
    names = [name for name in clusters if not wanted or name == wanted]
    fmt, zone = option(argv, "--format") or "", _where(argv)[1]
    if fmt == "value(status)":
        return Result(0, "".join(f"{clusters[name]}\n" for name in names))
    if fmt == "json":
        return _json([{"name": n, "status": clusters[n], "zone": zone, "location": zone} for n in names])
    return Result(0, "NAME  LOCATION  STATUS\n" + "".join(f"{n}  {zone}  {clusters[n]}\n" for n in names))


def _cluster_create(pos: list[str], argv: list[str], data: dict[str, Any]) -> Result:
    name, (project, zone) = pos[3], _where(argv)
    if name in data["clusters"]:
        return Result(1, "", "ERROR: (gcloud.container.clusters.create) ResponseError: code=409, "
                             f"message=Already exists: projects/{project}/zones/{zone}/clusters/{name}.\n")  # fmt: skip
    data["clusters"][name] = data["cluster_status_after_create"]
    data["current_context"] = f"gke_{project}_{zone}_{name}"
    table = (
        "NAME  LOCATION  MASTER_VERSION  MASTER_IP  MACHINE_TYPE  NODE_VERSION  NUM_NODES  STATUS\n"
        f"{name}  {zone}  {_GKE_VERSION}  127.0.0.1  {option(argv, '--machine-type')}  {_GKE_VERSION}  "
        f"{option(argv, '--num-nodes')}  RUNNING\n"
    )
    url = f"https://container.googleapis.com/v1/projects/{project}/zones/{zone}/clusters/{name}"
    return Result(0, table, f"Creating cluster {name} in {zone}...done.\nCreated [{url}].\n"
                            f"kubeconfig entry generated for {name}.\n")  # fmt: skip


def _existing_cluster(verb: str, action: Handler) -> Handler:
    """`action` for a cluster that exists; real gcloud's 404 otherwise."""

    def answer(pos: list[str], argv: list[str], data: dict[str, Any]) -> Result:
        name, (project, zone) = pos[3], _where(argv)
        if name not in data["clusters"]:
            return Result(1, "", f"ERROR: (gcloud.container.clusters.{verb}) ResponseError: code=404, "
                                 f"message=Not found: projects/{project}/zones/{zone}/clusters/{name}.\n"
                                 f"Could not find [{name}] in [{zone}].\n")  # fmt: skip
        return action(pos, argv, data)

    return answer


def _get_credentials(pos: list[str], argv: list[str], data: dict[str, Any]) -> Result:
    project, zone = _where(argv)
    data["current_context"] = f"gke_{project}_{zone}_{pos[3]}"
    return Result(0, "", f"Fetching cluster endpoint and auth data.\nkubeconfig entry generated for {pos[3]}.\n")


def _cluster_update(pos: list[str], _argv: list[str], _data: dict[str, Any]) -> Result:
    return Result(0, "", f"Updating {pos[3]}...done.\n")


def _cluster_describe(pos: list[str], _argv: list[str], data: dict[str, Any]) -> Result:
    return Result(0, json.dumps({"name": pos[3], "status": data["clusters"][pos[3]]}) + "\n")


def _cluster_delete(pos: list[str], argv: list[str], data: dict[str, Any]) -> Result:
    name, (project, zone) = pos[3], _where(argv)
    if data["delete_removes_cluster"]:
        del data["clusters"][name]
    else:
        data["clusters"][name] = "STOPPING"
    url = f"https://container.googleapis.com/v1/projects/{project}/zones/{zone}/clusters/{name}"
    return Result(0, "", f"Deleting cluster {name}...done.\nDeleted [{url}].\n")


COMMANDS: dict[tuple[str, ...], Handler] = {
    ("config", "get-value"): _config_get,
    ("config", "set"): _config_set,
    ("services", "list"): _services_list,
    ("services", "enable"): _services_enable,
    ("compute", "regions", "list"): _regions_list,
    ("compute", "regions", "describe"): _regions_describe,
    ("compute", "disks", "list"): _disks_list,
    ("compute", "disks", "update"): _disks_update,
    ("compute", "disks", "delete"): _disks_delete,
    ("compute", "snapshots", "list"): _snapshots_list,
    ("compute", "snapshots", "delete"): _snapshots_delete,
    ("container", "clusters", "list"): _clusters_list,
    ("container", "clusters", "create"): _cluster_create,
    ("container", "clusters", "get-credentials"): _existing_cluster("get-credentials", _get_credentials),
    ("container", "clusters", "update"): _existing_cluster("update", _cluster_update),
    ("container", "clusters", "describe"): _existing_cluster("describe", _cluster_describe),
    ("container", "clusters", "delete"): _existing_cluster("delete", _cluster_delete),
}


def handle(argv: list[str], call: Call) -> Result:
    """Answer one gcloud command line."""
    if argv[:1] in (["--version"], ["version"]):
        return Result(0, VERSION)
    pos = _positionals(argv)
    handler = COMMANDS.get(tuple(pos[:2])) or COMMANDS.get(tuple(pos[:3]))
    if handler is None:
        call.note = "UNHANDLED"
        return _invalid(pos[0] if len(pos) > 1 else "", pos[1] if len(pos) > 1 else (pos[0] if pos else ""))
    with State() as state:
        return handler(pos, argv, state.data)


def main(argv: list[str] | None = None) -> int:
    return run_tool("gcloud", handle, sys.argv[1:] if argv is None else argv, reads_stdin=False)


if __name__ == "__main__":
    sys.exit(main())
