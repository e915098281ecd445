"""The Kubernetes manifests in deploy/k8s: well formed, complete, and true to DESIGN's ports.

Reads the YAML directly, so no cluster tool is needed: kustomizations name files that
exist, each service's Deployment listens, is probed and is addressed on its DESIGN port
with the kernel's settings, each channel adapter loads its config as its process would,
and NATS fsyncs every write. Where `kubectl` is on PATH,
the overlays are also rendered with its built-in kustomize and checked the same way.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.gateway.config import load_gateway_config
from services.kernel.config import GRPC_PORTS, METRICS_PORTS, load_settings
from services.orchestrator.channels.config import CHANNELS, load_channel_config
from services.orchestrator.channels.config import ENV as CHANNEL_ENV

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = {"dev": K8S / "overlays" / "dev", "production": K8S / "overlays" / "production"}
SERVICES = tuple(GRPC_PORTS)
YAML_FILES = sorted(p for p in K8S.rglob("*") if p.suffix in {".yaml", ".yml"})
KUSTOMIZATIONS = sorted(p for p in YAML_FILES if p.name == "kustomization.yaml")
KUSTOMIZATION_KIND = "Kustomization"
INTERNAL_SECRET = {"name": "layercake-internal", "key": "LAYERCAKE_INTERNAL_SECRET"}
HTTP_DOOR = 8088  # the gateway's Segment-compatible HTTP door
# What each channel adapter must have from a Secret, besides its database URL.
CHANNEL_SECRETS = {
    "email": INTERNAL_SECRET,  # signs the one-click unsubscribe links
    "webhook": {"name": "layercake-webhook", "key": CHANNEL_ENV["webhook_secret"]},
}
# Set explicitly, never left to the local defaults (a sink on 127.0.0.1, the door's address).
CHANNEL_SETTINGS = {"email": ("smtp_url", "smtp_from", "public_url"), "webhook": ("webhook_url",)}

Doc = dict[str, Any]


def rel(path: Path) -> str:
    return str(path.relative_to(K8S))


def load(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kustomization(directory: Path) -> Doc:
    return load(directory / "kustomization.yaml")[0]


def generated_configmaps(kust: Doc, directory: Path, docs: list[Doc]) -> list[Doc]:
    """Applies a kustomization's configMapGenerator (create, merge, replace) to `docs`."""
    docs = list(docs)
    for gen in kust.get("configMapGenerator", []):
        data: dict[str, str] = {}
        for literal in gen.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        for file in gen.get("files", []):
            key, _, source = file.rpartition("=")
            data[key or Path(source).name] = (directory / source).read_text()
        name, behavior = gen["name"], gen.get("behavior", "create")
        meta = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
        existing = [
            i
            for i, d in enumerate(docs)
            if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name
        ]
        if behavior == "create":
            assert not existing, f"ConfigMap {name} generated twice"
            docs.append(meta | {"data": data})
        else:
            assert existing, f"{behavior} of a ConfigMap {name} that the base does not make"
            kept = docs[existing[0]]["data"] if behavior == "merge" else {}
            docs[existing[0]] = meta | {"data": kept | data}
    return docs


def resources(directory: Path) -> list[Doc]:
    """The objects a kustomization builds, before patches and image/replica changes."""
    kust = kustomization(directory)
    docs: list[Doc] = []
    for entry in kust.get("resources", []):
        path = directory / entry
        docs.extend(resources(path) if path.is_dir() else load(path))
    return generated_configmaps(kust, directory, docs)


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    """The one object of `kind` named `name` (or, for a generated one, `name-<hash>`)."""
    hashed = re.compile(rf"{re.escape(name)}-[a-z0-9]{{10}}")
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and (
            d["metadata"]["name"] == name
            or (kind in ("ConfigMap", "Secret") and hashed.fullmatch(d["metadata"]["name"]))
        )
    ]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def container(workload: Doc) -> Doc:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: one container expected"
    return containers[0]


def shared_env(docs: list[Doc], workload: Doc) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container(workload).get("envFrom", []):
        env |= find(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    return env


def own_env(workload: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container(workload).get("env", [])}


def effective_env(docs: list[Doc], workload: Doc) -> dict[str, str]:
    """What the process sees: the ConfigMaps, overridden by the container's env;
    values from Secrets are stood in for by a PostgreSQL URL."""
    env = shared_env(docs, workload)
    for name, entry in own_env(workload).items():
        env[name] = entry.get("value", "postgresql://layercake@postgres:5432/layercake")
    return env


def secret_ref(workload: Doc, var: str) -> Doc:
    ref: Doc = own_env(workload)[var]["valueFrom"]["secretKeyRef"]
    return ref


def check_hardened(workload: Doc) -> None:
    """Non-root, read-only root filesystem with an emptyDir /tmp, bounded resources."""
    pod, c, name = workload["spec"]["template"], container(workload), workload["metadata"]["name"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True, name
    assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
    assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
    tmp = next(m["name"] for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in next(v for v in pod["spec"]["volumes"] if v["name"] == tmp)
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][bound]), f"{name} {bound}"


def check_service_workload(docs: list[Doc], service: str) -> None:
    """Everything DESIGN and the kernel require of one service's Deployment and Service."""
    up, grpc_port, metrics_port = service.upper(), GRPC_PORTS[service], METRICS_PORTS[service]
    deployment = find(docs, "Deployment", service)
    pod = deployment["spec"]["template"]
    c = container(deployment)

    assert c["command"] == ["python", "-m", f"services.{service}"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    http = {"http": HTTP_DOOR} if service == "gateway" else {}
    assert ports == {"grpc": grpc_port, "metrics": metrics_port, **http}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == grpc_port, f"{service} {probe}"

    env = own_env(deployment)
    assert env[f"LAYERCAKE_{up}_ADDR"]["value"] == f"0.0.0.0:{grpc_port}"
    assert env[f"LAYERCAKE_{up}_METRICS_PORT"]["value"] == str(metrics_port)
    secret = secret_ref(deployment, f"LAYERCAKE_{up}_DATABASE_URL")
    assert secret == {"name": f"layercake-{service}-db", "key": f"LAYERCAKE_{up}_DATABASE_URL"}
    assert secret_ref(deployment, "LAYERCAKE_INTERNAL_SECRET") == INTERNAL_SECRET

    settings = load_settings(service, effective_env(docs, deployment))
    assert settings.grpc_addr == f"0.0.0.0:{grpc_port}"
    assert settings.metrics_port == metrics_port

    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(metrics_port)

    # SIGTERM comes after preStop; the runtime may wait the grace twice (calls, then workers).
    pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_stop_sleep = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
    budget = pod["spec"]["terminationGracePeriodSeconds"]
    assert budget > pre_stop_sleep + 2 * settings.shutdown_grace

    check_hardened(deployment)

    service_obj = find(docs, "Service", service)
    assert service_obj["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service_obj["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    grpc = next(p for p in service_obj["spec"]["ports"] if p["name"] == "grpc")
    assert grpc["port"] == grpc_port
    assert grpc["targetPort"] in ("grpc", grpc_port)
    if service == "gateway":  # the Segment-compatible door, where unsubscribe links point
        assert env["LAYERCAKE_GATEWAY_HTTP_ADDR"]["value"] == f"0.0.0.0:{HTTP_DOOR}"
        door_addr = load_gateway_config(effective_env(docs, deployment)).http_addr
        assert door_addr == f"0.0.0.0:{HTTP_DOOR}"
        door = next(p for p in service_obj["spec"]["ports"] if p["name"] == "http")
        assert door["port"] == HTTP_DOOR and door["targetPort"] in ("http", HTTP_DOOR)


def check_channel_workload(docs: list[Doc], channel: str) -> None:
    """A channel adapter's Deployment: its command, a config it starts with (the checks
    `__main__` refuses to start without), a durable inbox, and the shared NATS."""
    name = f"channel-{channel}"
    deployment = find(docs, "Deployment", name)
    c = container(deployment)
    assert c["command"] == ["python", "-m", "services.orchestrator.channels", channel]
    assert not c.get("ports"), f"{name} serves no port"
    assert not [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == name]

    db_var = CHANNEL_ENV["database_url"]
    assert secret_ref(deployment, db_var) == {"name": f"layercake-{name}-db", "key": db_var}
    secret = CHANNEL_SECRETS[channel]
    assert secret_ref(deployment, secret["key"]) == secret

    env = effective_env(docs, deployment)
    for setting in CHANNEL_SETTINGS[channel]:
        assert env.get(CHANNEL_ENV[setting]), f"{name}: {CHANNEL_ENV[setting]} unset"
    config = load_channel_config(channel, env)
    if channel == "email":
        assert config.unsubscribe_links()
    else:
        assert config.secret()
    assert config.db_url().startswith("postgresql"), f"{name}: inbox must outlive the pod"
    host = config.nats_url.removeprefix("nats://").split(":")[0]
    assert find(docs, "Service", host)
    check_hardened(deployment)


# --- every file ------------------------------------------------------------------------


def test_manifests_exist() -> None:
    assert BASE.joinpath("kustomization.yaml").is_file()
    assert all(p.joinpath("kustomization.yaml").is_file() for p in OVERLAYS.values())


@pytest.mark.parametrize("path", YAML_FILES, ids=rel)
def test_every_yaml_parses_into_named_objects(path: Path) -> None:
    docs = load(path)
    assert docs, f"{rel(path)} is empty"
    for doc in docs:
        assert isinstance(doc, dict), f"{rel(path)}: a document is not a mapping"
        assert doc.get("apiVersion") and doc.get("kind"), f"{rel(path)}: apiVersion/kind"
        if doc["kind"] != KUSTOMIZATION_KIND:
            assert doc.get("metadata", {}).get("name"), f"{rel(path)}: metadata.name"


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=rel)
def test_kustomization_references_exist(path: Path) -> None:
    directory = path.parent
    kust = load(path)[0]
    for entry in kust.get("resources", []):
        target = directory / entry
        assert target.is_file() or (target / "kustomization.yaml").is_file(), entry
    for gen in kust.get("configMapGenerator", []) + kust.get("secretGenerator", []):
        for file in gen.get("files", []):
            assert (directory / file.rpartition("=")[2]).is_file(), file
    built = resources(directory)
    names = {(d["kind"], d["metadata"]["name"]) for d in built}
    for patch in kust.get("patches", []):
        if "path" in patch:
            assert (directory / patch["path"]).is_file(), patch["path"]
            for doc in load(directory / patch["path"]):
                assert (doc["kind"], doc["metadata"]["name"]) in names, patch["path"]
        target = patch.get("target", {})
        matched = [
            d
            for d in built
            if target.get("kind", d["kind"]) == d["kind"]
            and target.get("name", d["metadata"]["name"]) == d["metadata"]["name"]
        ]
        assert matched, f"patch target {target} matches nothing"
    for entry in kust.get("replicas", []):
        kinds = {k for k, n in names if n == entry["name"]}
        assert kinds & {"Deployment", "StatefulSet"}, f"replicas for unknown {entry['name']}"


# --- base ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_service_deployment_matches_design(service: str) -> None:
    check_service_workload(resources(BASE), service)


@pytest.mark.parametrize("channel", CHANNELS)
def test_channel_adapter_deployment_starts_and_delivers(channel: str) -> None:
    check_channel_workload(resources(BASE), channel)


def test_shared_config_points_at_the_cluster_services() -> None:
    docs = resources(BASE)
    names = (*SERVICES, *(f"channel-{c}" for c in CHANNELS))
    deployments = [find(docs, "Deployment", name) for name in names]
    env = shared_env(docs, deployments[0])
    assert all(shared_env(docs, d) == env for d in deployments)
    for service in ("identity", "orchestrator", "decision"):
        assert env[f"LAYERCAKE_{service.upper()}_ADDR"] == f"{service}:{GRPC_PORTS[service]}"
    host, port = env["LAYERCAKE_NATS_URL"].removeprefix("nats://").split(":")
    nats = find(docs, "Service", host)
    assert int(port) in {p["port"] for p in nats["spec"]["ports"]}
    assert nats["spec"].get("clusterIP") != "None"


def test_namespace_is_layercake() -> None:
    assert kustomization(BASE)["namespace"] == "layercake"
    assert find(resources(BASE), "Namespace", "layercake")


def nats_configs() -> list[Path]:
    return sorted(K8S.rglob("nats*.conf"))


def without_comments(conf: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in conf.splitlines())


def block(conf: str, name: str) -> str | None:
    """The body of a top-level `name { ... }` block of a nats.conf, if it has one."""
    match = re.search(rf"^\s*{name}\s*[:=]?\s*\{{([^}}]*)\}}", without_comments(conf), re.M)
    return match.group(1) if match else None


def jetstream_block(conf: str) -> str:
    body = block(conf, "jetstream")
    assert body is not None, "no jetstream block"
    return body


def test_every_nats_config_fsyncs_each_write() -> None:
    configs = nats_configs()
    assert BASE / "nats.conf" in configs
    for conf in configs:
        block = jetstream_block(conf.read_text())
        assert re.search(r"^\s*sync_interval\s*[:=]\s*always\s*$", block, re.M), rel(conf)
        assert re.search(r"^\s*store_dir\s*[:=]", block, re.M), rel(conf)


def test_nats_is_a_jetstream_cluster_on_volumes() -> None:
    docs = resources(BASE)
    sts = find(docs, "StatefulSet", "nats")
    replicas = sts["spec"]["replicas"]
    assert replicas == 3
    conf = find(docs, "ConfigMap", "nats-config")["data"]["nats.conf"]
    routes = re.findall(r"nats://(nats-\d+)\.([\w-]+):6222", conf)
    assert sorted(pod for pod, _ in routes) == [f"nats-{i}" for i in range(replicas)]
    headless = find(docs, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert {svc for _, svc in routes} == {headless["metadata"]["name"]}
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container(sts)["volumeMounts"]}
    store_dir = re.search(r"store_dir\s*[:=]\s*(\S+)", jetstream_block(conf))
    assert store_dir and any(mounts[c] == store_dir.group(1) for c in claims & set(mounts))


def test_every_workload_has_a_disruption_budget() -> None:
    docs = resources(BASE)
    budgets = [
        d["spec"]["selector"]["matchLabels"] for d in docs if d["kind"] == "PodDisruptionBudget"
    ]
    for workload in (d for d in docs if d["kind"] in ("Deployment", "StatefulSet")):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(b.items() <= labels.items() for b in budgets), workload["metadata"]["name"]


# --- overlays --------------------------------------------------------------------------


def replicas(directory: Path) -> dict[str, int]:
    return {r["name"]: r["count"] for r in kustomization(directory).get("replicas", [])}


def test_dev_runs_one_of_everything() -> None:
    workloads = (*SERVICES, *(f"channel-{c}" for c in CHANNELS), "nats")
    assert replicas(OVERLAYS["dev"]) == {name: 1 for name in workloads}


def test_production_scales_services_and_autoscales_the_gateway() -> None:
    directory = OVERLAYS["production"]
    kust = kustomization(directory)
    counts = replicas(directory)
    for service in ("identity", "orchestrator", "decision"):
        assert 2 <= counts[service] <= 3, service
    assert "gateway" not in counts
    hpa = find(resources(directory), "HorizontalPodAutoscaler", "gateway")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "gateway",
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    # The autoscaler owns the count: the Deployment must not set one.
    removes = [
        p
        for p in kust.get("patches", [])
        if p.get("target", {}).get("name") == "gateway"
        and {"op": "remove", "path": "/spec/replicas"} in yaml.safe_load(p.get("patch", "[]"))
    ]
    assert removes


def test_production_images_are_pinned_by_tag() -> None:
    directory = OVERLAYS["production"]
    pinned = {}
    for entry in kustomization(directory)["images"]:
        tag = entry.get("newTag") or entry.get("digest")
        assert tag and tag != "latest", entry
        pinned[entry["name"]] = tag
    for workload in resources(directory):
        if workload["kind"] in ("Deployment", "StatefulSet"):
            image = container(workload)["image"]
            name, _, tag = image.partition(":")
            assert name in pinned or (tag and tag != "latest"), image


# --- rendered by kustomize, where kubectl is installed ---------------------------------


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH: rendering not checked")
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_renders_and_keeps_the_contract(overlay: str) -> None:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(OVERLAYS[overlay])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "layercake", doc["metadata"]["name"]
    for service in SERVICES:
        check_service_workload(docs, service)
    for channel in CHANNELS:
        check_channel_workload(docs, channel)
    nats_conf = find(docs, "ConfigMap", "nats-config")["data"]["nats.conf"]
    assert re.search(r"^\s*sync_interval\s*[:=]\s*always\s*$", jetstream_block(nats_conf), re.M)
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    if overlay == "dev":
        assert all(w["spec"]["replicas"] == 1 for w in workloads)
        assert block(nats_conf, "cluster") is None
    else:
        assert "replicas" not in find(docs, "Deployment", "gateway")["spec"]
        assert all(":" in container(w)["image"] for w in workloads)
        assert not any(container(w)["image"].endswith(":latest") for w in workloads)
