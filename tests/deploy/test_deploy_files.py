"""The deployment files: Kubernetes manifests (kubernetes-validate --strict, offline),
the compose file (docker-compose config -q), and the facts the files must agree on."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import compose_command

yaml = pytest.importorskip("yaml", reason="PyYAML comes with the dev extra")

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
REQUIRE_DOCKER = os.environ.get("NNFUNC_REQUIRE_DOCKER") == "1"


def load(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def resources() -> dict[str, dict]:
    return {d["kind"]: d for p in MANIFESTS for d in load(p) if d["kind"] != "Service"}


def services() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for p in MANIFESTS for d in load(p) if d["kind"] == "Service"}


# -- Kubernetes ----------------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_passes_strict_validation(path):
    kv = pytest.importorskip("kubernetes_validate", reason="the dev extra installs it")
    version = kv.latest_version()
    for doc in load(path):
        kv.validate(doc, version, strict=True)  # raises ValidationError with the path


def test_kustomization_lists_every_manifest():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == [p.name for p in MANIFESTS]


def test_the_deployment_serves_grpc_with_native_probes_as_a_non_root_user():
    dep = resources()["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["grpc"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert int(env["NNFUNC_PORT"]) == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == port, probe
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == _dockerfile_uid()
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["resources"]["requests"] and c["resources"]["limits"]
    # SIGTERM arrives after the preStop hook; the drain must end before SIGKILL.
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + float(env["NNFUNC_GRACE"])


def test_services_hpa_and_pdb_select_the_deployments_pods():
    res = resources()
    dep = res["Deployment"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    selects = [s["spec"]["selector"] for s in services().values()]
    selects.append(res["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"])
    for selector in selects:
        assert selector.items() <= labels.items(), selector
    target = res["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", dep["metadata"]["name"])


def test_a_headless_service_for_round_robin_and_an_h2c_cluster_ip():
    svc = services()
    headless = [s for s in svc.values() if s["spec"].get("clusterIP") == "None"]
    cluster = [s for s in svc.values() if s["spec"].get("clusterIP") != "None"]
    assert len(headless) == 1 and len(cluster) == 1
    for s in svc.values():
        (port,) = s["spec"]["ports"]
        assert port["appProtocol"] == "kubernetes.io/h2c"
        assert port["targetPort"] == "grpc"


def test_every_nnfunc_variable_in_the_deploy_files_is_a_server_setting():
    from nnfunc.server import Settings

    known = {"NNFUNC_" + f.name.upper() for f in dataclasses.fields(Settings)}
    text = "\n".join(
        p.read_text() for p in [*MANIFESTS, ROOT / "docker-compose.yml", ROOT / "Dockerfile"]
    )
    used = set(re.findall(r"\bNNFUNC_[A-Z_]+\b", text))
    used -= {"NNFUNC_REPLICAS", "NNFUNC_LB_PORT"}  # the compose file's own knobs
    assert used and used <= known, used - known


# -- Dockerfile and compose -----------------------------------------------------------


def _dockerfile_uid() -> int:
    (user,) = re.findall(r"^USER\s+(\d+)(?::\d+)?\s*$", (ROOT / "Dockerfile").read_text(), re.M)
    return int(user)


def test_dockerfile_base_non_root_healthcheck_and_exec_form():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M)
    assert _dockerfile_uid() != 0
    assert re.search(r'^HEALTHCHECK .*CMD \["nnfunc-health"\]$', text, re.M)
    assert re.search(r'^ENTRYPOINT \["nnfunc", "serve"\]$', text, re.M)  # exec form: PID 1
    assert re.search(r"^EXPOSE 50051$", text, re.M)


def test_compose_runs_replicas_behind_the_balancer_on_loopback():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    server, lb = compose["services"]["nnfunc"], compose["services"]["lb"]
    assert server["deploy"]["mode"] == "replicated"
    assert re.fullmatch(r"\$\{NNFUNC_REPLICAS:-[23]\}", str(server["deploy"]["replicas"]))
    assert server["deploy"]["resources"]["limits"]
    assert server["healthcheck"]["test"] == ["CMD", "nnfunc-health"]
    assert lb["depends_on"]["nnfunc"]["condition"] == "service_healthy"
    assert all(p.startswith("127.0.0.1:") for p in lb["ports"])
    for svc in (server, lb):
        assert svc["build"]["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-python:3.11-slim}"
    nginx = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    assert re.search(r"listen\s+\d+\s+http2;", nginx)
    assert "grpc_pass grpc://nnfunc;" in nginx
    assert "client_max_body_size 0;" in nginx
    assert re.search(r"keepalive_requests\s+\d{7,};", nginx)  # not nginx's 1000


def test_compose_file_passes_config_check():
    cmd = compose_command()
    if cmd is None:
        message = "neither `docker compose` nor `docker-compose` is installed"
        if REQUIRE_DOCKER:
            pytest.fail(message + " (NNFUNC_REQUIRE_DOCKER=1)")
        pytest.skip(message)
    result = subprocess.run(
        [*cmd, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
