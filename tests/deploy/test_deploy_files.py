"""Dockerfile, docker-compose.yml and deploy/k8s/ agree with the code.

No container engine runs in the test environment, so these tests read the
files: services, ports, volumes, environment names that the config module
reads, probe paths that the app serves, and commands that the CLI accepts.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from blobstore import cli
from blobstore.api import create_app
from blobstore.config import ENV_VARS, ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# Variables for Python and pip themselves, not for blobstore.
PLATFORM_ENV = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}
PLATFORM_ENV_PREFIXES = ("PIP_",)
BLOBSTORE_SERVICES = ("migrate", "api", "relay")


# --- reading the files ------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined."""
    instructions = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def instruction_args(keyword: str) -> list[str]:
    return [arguments for name, arguments in dockerfile() if name == keyword]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for arguments in instruction_args("ENV"):
        for pair in shlex.split(arguments):
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def image_uid() -> int:
    """The numeric user id that the image runs as (ARG APP_UID)."""
    found = re.search(r"APP_UID=(\d+)", " ".join(instruction_args("ARG")))
    assert found is not None, "the Dockerfile sets no ARG APP_UID"
    return int(found.group(1))


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = compose()["services"][name]
    return service


def k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def pod_containers(kind: str, name: str) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = k8s_object(kind, name)["spec"]["template"]["spec"][
        "containers"
    ]
    return containers


def app_paths() -> set[str]:
    app = create_app(Settings.from_env({}))
    return {route.path for route in app.routes if hasattr(route, "path")}


def url_paths(text: str) -> list[str]:
    return re.findall(r"https?://[^/\s'\"]+(/[^\s'\")]*)", text)


def interpolate(value: str) -> str:
    """Replace Compose's ${NAME:-default} with the default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def cli_accepts(command: list[str]) -> bool:
    try:
        cli._parser().parse_args(command[1:])
    except SystemExit:
        return False
    return command[0] == "blobstore"


def deployed_commands() -> list[tuple[str, list[str]]]:
    commands = [("Dockerfile CMD", json.loads(instruction_args("CMD")[-1]))]
    commands += [
        (f"compose {name}", compose_service(name)["command"]) for name in BLOBSTORE_SERVICES
    ]
    for document in k8s_documents():
        if document["kind"] in {"Deployment", "Job"}:
            for container in document["spec"]["template"]["spec"]["containers"]:
                label = f"k8s {document['kind']} {document['metadata']['name']}"
                commands.append((label, container["command"]))
    return commands


# --- Dockerfile -------------------------------------------------------------


def test_dockerfile_builds_on_python_slim() -> None:
    bases = [arguments.split()[0] for arguments in instruction_args("FROM")]

    assert bases == ["python:3.11-slim", "python:3.11-slim"]


def test_dockerfile_installs_dependencies_before_copying_source() -> None:
    steps = [f"{keyword} {arguments}" for keyword, arguments in dockerfile()]
    install_dependencies = next(i for i, s in enumerate(steps) if "pip install -r" in s)
    copy_source = next(i for i, s in enumerate(steps) if s.startswith("COPY blobstore"))
    copy_pyproject = next(i for i, s in enumerate(steps) if s.startswith("COPY pyproject.toml"))

    assert copy_pyproject < install_dependencies < copy_source


def test_dockerfile_runs_as_non_root_user() -> None:
    users = instruction_args("USER")

    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert image_uid() >= 1000


def test_dockerfile_keeps_blobs_in_a_volume() -> None:
    volumes = [json.loads(arguments) for arguments in instruction_args("VOLUME")]

    assert volumes == [["/data/files"]]
    assert dockerfile_env()["FILE_BASE_PATH"] == "/data/files"


def test_dockerfile_env_names_are_settings() -> None:
    names = {
        name
        for name in dockerfile_env()
        if name not in PLATFORM_ENV and not name.startswith(PLATFORM_ENV_PREFIXES)
    }

    assert names
    assert names <= ENV_VARS


def test_dockerfile_healthcheck_requests_livez_with_python() -> None:
    healthcheck = instruction_args("HEALTHCHECK")[0]
    command = json.loads(healthcheck.split(" CMD ", 1)[1])

    assert command[0] == "python"
    assert "curl" not in healthcheck
    assert url_paths(healthcheck) == ["/livez"]
    assert "/livez" in app_paths()


def test_dockerfile_serves_the_exposed_port_on_all_interfaces() -> None:
    command = json.loads(instruction_args("CMD")[-1])

    assert instruction_args("EXPOSE") == ["8000"]
    assert command == ["blobstore", "serve", "--host", "0.0.0.0", "--port", "8000"]


def test_dockerignore_excludes_local_state() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copied = {
        source
        for arguments in instruction_args("COPY")
        if not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    }

    assert {".git", ".venv", ".cache", "data"} <= ignored
    assert copied == {"pyproject.toml", "README.md", "alembic.ini", "migrations", "blobstore"}
    assert not copied & ignored


# --- docker-compose.yml -----------------------------------------------------


def test_compose_defines_the_services() -> None:
    assert set(compose()["services"]) == {"postgres", "kafka", *BLOBSTORE_SERVICES}


def test_compose_kafka_single_kraft_node() -> None:
    kafka = compose_service("kafka")
    env = kafka["environment"]

    assert kafka["image"].startswith("apache/kafka:")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 1
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == 1
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_publishes_the_api_on_loopback_only() -> None:
    published = [
        p for name in compose()["services"] for p in compose_service(name).get("ports", [])
    ]

    assert published == ["127.0.0.1:8000:8000"]
    assert instruction_args("EXPOSE") == [published[0].rsplit(":", 1)[1]]


def test_compose_keeps_blobs_in_a_named_volume() -> None:
    api = compose_service("api")

    assert api["volumes"] == ["files:/data/files"]
    assert "files" in compose()["volumes"]
    assert api["environment"]["FILE_BASE_PATH"] == "/data/files"


def test_compose_starts_services_in_order() -> None:
    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in compose_service(name)["depends_on"].items()}

    assert conditions("migrate") == {"postgres": "service_healthy"}
    assert conditions("api")["migrate"] == "service_completed_successfully"
    assert conditions("api")["postgres"] == "service_healthy"
    assert conditions("relay") == {
        "migrate": "service_completed_successfully",
        "postgres": "service_healthy",
        "kafka": "service_healthy",
    }
    assert compose_service("migrate")["restart"] == "no"


def test_compose_services_have_healthchecks_on_served_paths() -> None:
    paths = app_paths()

    for name in ("postgres", "kafka", "api"):
        assert compose_service(name)["healthcheck"]["test"], name
    for path in url_paths(json.dumps(compose_service("api")["healthcheck"]["test"])):
        assert path in paths


@pytest.mark.parametrize("service", BLOBSTORE_SERVICES)
def test_compose_env_is_valid_configuration(service: str) -> None:
    env = {
        name: interpolate(str(value))
        for name, value in compose_service(service)["environment"].items()
    }

    settings = Settings.from_env(env)

    assert set(env) <= ENV_VARS
    assert settings.database_url.host == "postgres"
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.log_format == "json"


# --- deploy/k8s -------------------------------------------------------------


def test_k8s_has_the_objects() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in k8s_documents() if "metadata" in d)

    assert kinds == [
        ("ConfigMap", "blobstore-config"),
        ("Deployment", "blobstore-api"),
        ("Deployment", "blobstore-relay"),
        ("Job", "blobstore-migrate"),
        ("PersistentVolumeClaim", "blobstore-files"),
        ("Secret", "blobstore-secrets"),
        ("Service", "blobstore"),
    ]


def test_k8s_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}

    assert sorted(kustomization["resources"]) == sorted(files)


def test_k8s_api_replicas_and_probes() -> None:
    api = k8s_object("Deployment", "blobstore-api")
    container = pod_containers("Deployment", "blobstore-api")[0]
    port_names = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert api["spec"]["replicas"] >= 2
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in app_paths()
        assert container[probe]["httpGet"]["port"] in port_names
    assert port_names == {"http": 8000}


def test_k8s_api_waits_longer_than_the_graceful_shutdown() -> None:
    pod = k8s_object("Deployment", "blobstore-api")["spec"]["template"]["spec"]
    config = k8s_object("ConfigMap", "blobstore-config")["data"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]

    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(config["SHUTDOWN_TIMEOUT_S"]) + int(
        pre_stop[1]
    )


def test_k8s_relay_runs_one_replica() -> None:
    relay = k8s_object("Deployment", "blobstore-relay")

    assert relay["spec"]["replicas"] == 1
    assert relay["spec"]["strategy"]["type"] == "Recreate"
    assert pod_containers("Deployment", "blobstore-relay")[0]["command"] == ["blobstore", "relay"]


def test_k8s_migration_job_runs_once() -> None:
    job = k8s_object("Job", "blobstore-migrate")

    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert pod_containers("Job", "blobstore-migrate")[0]["command"] == ["blobstore", "migrate"]


def test_k8s_blob_volume_shared_and_mounted() -> None:
    claim = k8s_object("PersistentVolumeClaim", "blobstore-files")
    pod = k8s_object("Deployment", "blobstore-api")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    base_path = k8s_object("ConfigMap", "blobstore-config")["data"]["FILE_BASE_PATH"]

    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert volumes == {"files": "blobstore-files"}
    assert mounts == {"files": base_path}
    assert base_path == dockerfile_env()["FILE_BASE_PATH"]


def test_k8s_service_routes_to_the_api_port() -> None:
    service = k8s_object("Service", "blobstore")
    pod_labels = k8s_object("Deployment", "blobstore-api")["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for p in pod_containers("Deployment", "blobstore-api")[0]["ports"]}

    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_k8s_secret_holds_only_marked_placeholders() -> None:
    secret = k8s_object("Secret", "blobstore-secrets")

    assert "PLACEHOLDER" in (K8S / "secret.yaml").read_text()
    assert secret["stringData"]
    assert all("CHANGE-ME" in value for value in secret["stringData"].values())


def test_k8s_env_is_valid_configuration() -> None:
    config = k8s_object("ConfigMap", "blobstore-config")["data"]
    secret = k8s_object("Secret", "blobstore-secrets")["stringData"]
    sources = {("configMapRef", "blobstore-config"), ("secretRef", "blobstore-secrets")}

    for kind, name in (
        ("Deployment", "blobstore-api"),
        ("Deployment", "blobstore-relay"),
        ("Job", "blobstore-migrate"),
    ):
        for container in pod_containers(kind, name):
            refs = {
                (key, ref["name"]) for entry in container["envFrom"] for key, ref in entry.items()
            }
            assert refs == sources, name
            assert {e["name"] for e in container.get("env", [])} <= ENV_VARS, name
    assert set(config) | set(secret) <= ENV_VARS
    try:
        Settings.from_env({**config, **secret})
    except ConfigError as exc:
        pytest.fail(f"the ConfigMap and Secret are not valid settings: {exc}")


def test_k8s_pods_run_as_the_image_user() -> None:
    uid = image_uid()

    for document in k8s_documents():
        if document["kind"] in {"Deployment", "Job"}:
            pod = document["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["runAsUser"] == uid
            for container in pod["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False


# --- commands ---------------------------------------------------------------


@pytest.mark.parametrize(("where", "command"), deployed_commands(), ids=lambda v: str(v))
def test_deployed_command_is_accepted_by_the_cli(where: str, command: list[str]) -> None:
    assert cli_accepts(command), f"{where}: {command}"
