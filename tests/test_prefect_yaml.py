"""prefect.yaml cross-checked against the code it names (fix A): entrypoints, parameters, schedules, pools, pins.

`problems()` reads a prefect.yaml the way `prefect deploy` does and lists every dangling reference; the
real file must have none, and each planted mistake below must be caught.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops import prefect_admin

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILE = ROOT / "deployments" / "Containerfile"
# Every `{{ $VAR }}` in prefect.yaml must be one `blastflow up` sets.
KNOWN_ENV_PLACEHOLDERS = {"BLASTFLOW_CODE_VERSION"}
CODE_VERSION_PIN = "{{ $BLASTFLOW_CODE_VERSION }}"
PATH_PARAMETERS = ("query", "db")
_PLACEHOLDER = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")


def problems(config: dict[str, Any], root: Path = ROOT) -> list[str]:
    """Every reason `config` (a loaded prefect.yaml) would not deploy or run as written; empty when sound."""
    from prefect.cli.deploy._models import DeploymentConfig, PrefectYamlModel

    found: list[str] = []
    top_keys = {f.alias or name for name, f in PrefectYamlModel.model_fields.items()} | {"definitions"}
    found += [f"unknown top-level key {key!r}" for key in sorted(set(config) - top_keys)]
    try:
        PrefectYamlModel.model_validate(config)
    except Exception as exc:
        found.append(f"Prefect rejects the file: {' / '.join(str(exc).splitlines()[:3])}")
    deployments = config.get("deployments") or []
    if not deployments:
        found.append("no deployments")
    names = [d.get("name") for d in deployments]
    found += [f"deployment name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    flows: dict[str, Any] = {}
    for deployment in deployments:
        name = deployment.get("name") or "<unnamed>"
        unknown = set(deployment) - set(DeploymentConfig.model_fields)
        found += [f"{name}: unknown key {key!r}" for key in sorted(unknown)]
        found += _placeholder_problems(name, deployment)
        if deployment.get("version") != CODE_VERSION_PIN:
            found.append(f"{name}: version must be {CODE_VERSION_PIN!r} (fix J: pinned to the code it was made from)")
        flow = _load_flow(name, deployment.get("entrypoint"), root, flows, found)
        if flow is not None:
            found += _parameter_problems(name, flow, deployment.get("parameters") or {}, "parameters")
        for i, schedule in enumerate(deployment.get("schedules") or []):
            found += _schedule_problems(f"{name}: schedule {i + 1}", schedule)
            if flow is not None and schedule.get("parameters"):
                found += _parameter_problems(name, flow, schedule["parameters"], f"schedule {i + 1} parameters")
        found += _work_pool_problems(name, deployment)
        found += _path_problems(name, deployment, root)
    used_pools = {(d.get("work_pool") or {}).get("name") for d in deployments}
    unused = sorted(set(prefect_admin.WORK_POOLS) - used_pools)
    found += [f"work pool {pool!r} of the stack has no deployment" for pool in unused]
    return found


def _load_flow(name: str, entrypoint: str | None, root: Path, cache: dict[str, Any], found: list[str]) -> Any:
    from prefect.flows import load_flow_from_entrypoint

    if not entrypoint or ":" not in entrypoint:
        found.append(f"{name}: entrypoint {entrypoint!r} is not `path/to/file.py:function`")
        return None
    path, _, function = entrypoint.rpartition(":")
    if not (root / path).is_file():
        found.append(f"{name}: entrypoint file {path!r} does not exist")
        return None
    if entrypoint not in cache:
        try:
            cache[entrypoint] = load_flow_from_entrypoint(f"{root / path}:{function}")
        except Exception as exc:
            found.append(f"{name}: entrypoint {entrypoint!r} does not load: {type(exc).__name__}: {exc}")
            cache[entrypoint] = None
    return cache[entrypoint]


def _parameter_problems(name: str, flow: Any, parameters: dict[str, Any], where: str) -> list[str]:
    """Names and values against the flow's parameter schema, the one the Prefect UI's run form is built from."""
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools import validate

    schema = parameter_schema(flow).model_dump_for_openapi()
    unknown = set(parameters) - set(schema["properties"])
    out = [f"{name}: {where}: {p!r} is not a parameter of flow {flow.name!r}" for p in sorted(unknown)]
    known = {k: v for k, v in parameters.items() if k not in unknown}
    for error in validate(known, schema, ignore_required=True):
        field = ".".join(str(part) for part in error.path) or "$"
        out.append(f"{name}: {where}: {field}: {error.message}")
    return out


def _schedule_problems(where: str, schedule: dict[str, Any]) -> list[str]:
    from prefect.cli.deploy._models import RawScheduleConfig
    from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule

    try:
        RawScheduleConfig.model_validate(schedule)  # strict: unknown keys, and exactly one of cron/interval/rrule
        _schedule_config_to_deployment_schedule(dict(schedule))  # what `prefect deploy` builds (cron syntax…)
    except Exception as exc:
        return [f"{where} does not parse: {exc}"]
    return []


def _work_pool_problems(name: str, deployment: dict[str, Any]) -> list[str]:
    pool = (deployment.get("work_pool") or {}).get("name")
    if pool not in prefect_admin.WORK_POOLS:
        return [f"{name}: work pool {pool!r} is not one `blastflow up` creates ({', '.join(prefect_admin.WORK_POOLS)})"]
    template = prefect_admin.base_job_template(prefect_admin.WORK_POOLS[pool])
    variables = template["variables"]["properties"]
    job_variables = deployment["work_pool"].get("job_variables") or {}
    unknown = sorted(set(job_variables) - set(variables))
    out = [f"{name}: job variable {v!r} is not in the {pool} template" for v in unknown]
    beat = (job_variables.get("env") or {}).get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY")
    if beat != str(prefect_admin.HEARTBEAT_FREQUENCY_S):
        out.append(f"{name}: env PREFECT_FLOWS_HEARTBEAT_FREQUENCY is {beat!r}, "
                   f"not {prefect_admin.HEARTBEAT_FREQUENCY_S} (the zombie automation's window is built on it)")
    return out


def _path_problems(name: str, deployment: dict[str, Any], root: Path) -> list[str]:
    """Relative query/db paths must exist in the checkout (and, for an image, where the image has its code)."""
    out = []
    image_dir = _image_dir(deployment)
    if image_dir is not None and image_dir != _containerfile_workdir():
        out.append(f"{name}: pulls from {image_dir} but deployments/Containerfile puts the code in "
                   f"{_containerfile_workdir()}")
    for key in PATH_PARAMETERS:
        value = (deployment.get("parameters") or {}).get(key)
        if not isinstance(value, str) or "/" not in value or value.startswith(("/", ">", "gs://", "s3://", "https://")):
            continue
        if not (root / value).is_file():
            out.append(f"{name}: parameter {key} names {value!r}, which is not in the repository")
        elif image_dir is not None and not _image_copies(value.split("/")[0]):
            out.append(f"{name}: parameter {key} names {value!r}, but the image does not copy {value.split('/')[0]}/")
    return out


def _placeholder_problems(name: str, deployment: dict[str, Any]) -> list[str]:
    out = []
    for text in re.findall(_PLACEHOLDER, yaml.safe_dump(deployment)):
        var = text.removeprefix("$")
        if not text.startswith("$") or var not in KNOWN_ENV_PLACEHOLDERS:
            out.append(f"{name}: placeholder {{{{ {text} }}}} is not one `blastflow up` fills "
                       f"({', '.join(sorted(KNOWN_ENV_PLACEHOLDERS))})")
    return out


def _image_dir(deployment: dict[str, Any]) -> str | None:
    for step in deployment.get("pull") or []:
        if "prefect.deployments.steps.set_working_directory" in step:
            return step["prefect.deployments.steps.set_working_directory"]["directory"]
    return None


def _containerfile_workdir() -> str:
    workdirs = re.findall(r"^WORKDIR\s+(\S+)", CONTAINERFILE.read_text(), flags=re.MULTILINE)
    assert workdirs, f"{CONTAINERFILE} has no WORKDIR"
    return workdirs[-1]


def _image_copies(top: str) -> bool:
    copy_line = rf"^COPY\s+(?:\S+\s+)*{re.escape(top)}/?\s"
    return re.search(copy_line, CONTAINERFILE.read_text(), flags=re.MULTILINE) is not None


# ------------------------------------------------------------------------------------------------------
# The real prefect.yaml
# ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return prefect_admin.load_prefect_yaml()


def test_prefect_yaml_has_no_dangling_reference(config: dict[str, Any]) -> None:
    assert problems(config) == []


def test_the_deployments_the_issue_asks_for(config: dict[str, Any]) -> None:
    by_name = {d["name"]: d for d in config["deployments"]}
    assert by_name["blast-search"]["work_pool"]["name"] == prefect_admin.LOCAL_POOL
    assert by_name["blast-search-k8s"]["work_pool"]["name"] == prefect_admin.K8S_POOL
    k8s_variables = by_name["blast-search-k8s"]["work_pool"]["job_variables"]
    assert {"image", "namespace", "service_account_name", "cpu_request", "memory_limit"} <= set(k8s_variables)
    assert by_name["reconcile"]["schedules"] == [{"interval": 900}]  # a safety net: events run it at once
    examples = [d for d in config["deployments"] if d["entrypoint"].endswith(":blast_search") and d.get("schedules")]
    assert examples and all(s.get("cron") and s.get("active") is False for d in examples for s in d["schedules"])


def test_the_local_deployments_are_the_ones_up_deploys(config: dict[str, Any]) -> None:
    local = prefect_admin.deployment_names(config, [prefect_admin.LOCAL_POOL])
    assert local == ["blast-search", "reconcile", "sample-search-nightly"]
    everything = prefect_admin.deployment_names(config, prefect_admin.WORK_POOLS)
    assert set(everything) == {d["name"] for d in config["deployments"]}


def test_the_reconcile_automation_runs_the_reconcile_deployment_with_parameters_of_its_flow(
    config: dict[str, Any],
) -> None:
    """The automation's parameters are checked like the deployment's own: a renamed flow parameter is caught."""
    from prefect.flows import load_flow_from_entrypoint

    flow_name, deployment_name = prefect_admin.RECONCILE_DEPLOYMENT.split("/")
    entrypoint = _deployment(config, deployment_name)["entrypoint"]
    flow = load_flow_from_entrypoint(str(ROOT / entrypoint))
    assert flow.name == flow_name
    action = prefect_admin.reconcile_automation("9f0e3b1c-8a52-4c1e-9a7d-2b8f5d6e4c3a").actions[0]
    assert _parameter_problems(deployment_name, flow, action.parameters, "automation parameters") == []
    renamed = {"run_id": action.parameters["flow_run_id"]}
    assert _parameter_problems(deployment_name, flow, renamed, "automation parameters") == [
        "reconcile: automation parameters: 'run_id' is not a parameter of flow 'reconcile'"
    ]


def test_the_zombie_window_tolerates_three_missed_heartbeats() -> None:
    assert prefect_admin.ZOMBIE_WITHIN_S >= 3 * prefect_admin.HEARTBEAT_FREQUENCY_S
    assert prefect_admin.zombie_automation().trigger.within.total_seconds() == prefect_admin.ZOMBIE_WITHIN_S


def test_the_ui_run_form_is_typed_and_documented_by_the_flow() -> None:
    """No descriptions in the yaml: the flow's docstring documents each parameter of the run form."""
    from prefect.utilities.callables import parameter_schema

    from flows.blast_search import blast_search

    properties = parameter_schema(blast_search).model_dump_for_openapi()["properties"]
    assert all(p.get("description") for p in properties.values()), "every parameter needs an Args: line"
    assert properties["program"]["enum"] == ["blastn", "blastp", "blastx", "tblastn", "tblastx"]
    assert properties["evalue"]["type"] == "number"


# ------------------------------------------------------------------------------------------------------
# Planted mistakes: each must be caught, written to a file and read back as `prefect deploy` would
# ------------------------------------------------------------------------------------------------------


def _deployment(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in config["deployments"] if d["name"] == name)


def _set(path: str, value: Any, name: str = "blast-search") -> Any:
    def plant(config: dict[str, Any]) -> None:
        target = _deployment(config, name)
        *parents, last = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value

    return plant


PLANTED = {
    "missing flow function": (_set("entrypoint", "flows/blast_search.py:blast_serch"), "does not load"),
    "missing entrypoint file": (_set("entrypoint", "flows/blast.py:blast_search"), "does not exist"),
    "unknown parameter": (_set("parameters", {"evalu": 1e-3}), "'evalu' is not a parameter of flow 'blast-search'"),
    "wrongly typed parameter": (_set("parameters", {"max_target_seqs": "ten"}), "'ten' is not of type 'integer'"),
    "program outside the enum": (_set("parameters", {"program": "blastz"}), "program: 'blastz' is not one of"),
    "bad cron": (_set("schedules", [{"cron": "61 * * * *"}]), "schedule 1 does not parse"),
    "schedule key typo": (_set("schedules", [{"interval": 60, "activ": False}]), "schedule 1 does not parse"),
    "two schedule kinds": (_set("schedules", [{"interval": 60, "cron": "0 3 * * *"}]), "schedule 1 does not parse"),
    "schedule parameter typo": (
        _set("schedules", [{"cron": "0 3 * * *", "parameters": {"qeury": "x"}}]),
        "schedule 1 parameters: 'qeury' is not a parameter",
    ),
    "unknown work pool": (_set("work_pool", {"name": "blastflow-gpu"}), "work pool 'blastflow-gpu' is not one"),
    "unknown job variable": (
        _set("work_pool.job_variables.cpu", "2", name="blast-search-k8s"),
        "job variable 'cpu' is not in the blastflow-k8s template",
    ),
    "heartbeat off": (
        _set("work_pool.job_variables.env", {}, name="reconcile"),
        "reconcile: env PREFECT_FLOWS_HEARTBEAT_FREQUENCY is None",
    ),
    "unpinned version": (_set("version", "1.0"), "version must be"),
    "unknown env placeholder": (_set("tags", ["{{ $BLASTFLOW_TAG }}"]), "placeholder {{ $BLASTFLOW_TAG }}"),
    "missing sample file": (_set("parameters", {"query": "data/sinvicta/gone.fasta"}), "not in the repository"),
    "deployment key typo": (_set("paramters", {"evalue": 1.0}), "unknown key 'paramters'"),
    "image code dir": (
        _set("pull", [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/prefect"}}],
             name="blast-search-k8s"),
        "pulls from /opt/prefect but deployments/Containerfile puts the code in /opt/blastflow",
    ),
    "duplicate name": (_set("name", "reconcile"), "deployment name 'reconcile' is used twice"),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_planted_mistake_is_caught(case: str, config: dict[str, Any], tmp_path: Path) -> None:
    plant, expected = PLANTED[case]
    bad = copy.deepcopy(config)
    plant(bad)
    planted = tmp_path / "prefect.yaml"
    planted.write_text(yaml.safe_dump(bad, sort_keys=False))

    found = problems(prefect_admin.load_prefect_yaml(planted))

    assert any(expected in p for p in found), f"{case}: expected {expected!r} in {found}"


def test_a_deleted_deployment_leaves_its_pool_dangling(config: dict[str, Any], tmp_path: Path) -> None:
    bad = copy.deepcopy(config)
    bad["deployments"] = [d for d in bad["deployments"] if d["work_pool"]["name"] != prefect_admin.K8S_POOL]
    planted = tmp_path / "prefect.yaml"
    planted.write_text(yaml.safe_dump(bad))

    found = problems(prefect_admin.load_prefect_yaml(planted))
    assert "work pool 'blastflow-k8s' of the stack has no deployment" in found
