"""The kustomize overlays render to what issue 9 asks for, per environment.

(kubernetes-validate --strict and checkov run on the same renderings in
scripts/deploy/check-kubernetes.sh; these tests check the content.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = Path(__import__("sys").executable).parent / "kubectl"
ENVIRONMENTS = {
    "dev": ("wardbook-dev", "dev.wardbook.example.org", "development"),
    "staging": ("wardbook-staging", "staging.wardbook.example.org", "staging"),
    "production": ("wardbook", "wardbook.example.org", "production"),
}


def render(env: str) -> dict[tuple[str, str], dict]:
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(ROOT / "deploy" / "kubernetes" / "overlays" / env)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.fixture(scope="module", params=list(ENVIRONMENTS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[tuple[str, str], dict]]:
    return request.param, render(request.param)


def _by_kind(resources: dict, kind: str) -> list[dict]:
    return [r for (k, _), r in resources.items() if k == kind]


def test_everything_lands_in_the_environment_namespace(rendered: tuple) -> None:
    env, resources = rendered
    namespace = ENVIRONMENTS[env][0]
    assert (
        resources[("Namespace", namespace)]["metadata"]["labels"][
            "pod-security.kubernetes.io/enforce"
        ]
        == "restricted"
    )
    for (kind, _), resource in resources.items():
        if kind != "Namespace":
            assert resource["metadata"]["namespace"] == namespace, kind


def test_deployment_probes_resources_security_and_spread(rendered: tuple) -> None:
    _, resources = rendered
    deployment = resources[("Deployment", "wardbook")]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    assert {"requests", "limits"} <= set(container["resources"])
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    assert pod["automountServiceAccountToken"] is False
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts  # the only writable path with a read-only root filesystem


def test_configuration_comes_from_the_configmap_and_secrets(rendered: tuple) -> None:
    env, resources = rendered
    (container,) = resources[("Deployment", "wardbook")]["spec"]["template"]["spec"]["containers"]
    config_name = next(
        s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s
    )
    assert config_name.startswith("wardbook-config-")  # hashed: a change rolls the pods
    config = resources[("ConfigMap", config_name)]["data"]
    assert config["WARDBOOK_ENV"] == ENVIRONMENTS[env][2]
    assert config["WARDBOOK_BASE_URL"] == f"https://{ENVIRONMENTS[env][1]}/fhir"
    assert any(
        s.get("secretRef", {}).get("name") == "wardbook-secrets" for s in container["envFrom"]
    )
    env_vars = {e["name"]: e for e in container["env"]}
    assert env_vars["WARDBOOK_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "wardbook-db-app",
        "key": "uri",
    }
    assert "@wardbook-db-ro:5432/" in env_vars["WARDBOOK_DATABASE_REPLICA_URLS"]["value"]
    # No Secret objects are committed: they are created out of band (docs/operations/deploy.md).
    assert not _by_kind(resources, "Secret")


def test_service_ingress_tls_hpa_pdb(rendered: tuple) -> None:
    env, resources = rendered
    host = ENVIRONMENTS[env][1]
    service = resources[("Service", "wardbook")]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    ingress = resources[("Ingress", "wardbook")]["spec"]
    assert ingress["tls"] == [{"hosts": [host], "secretName": "wardbook-tls"}]
    assert ingress["rules"][0]["host"] == host
    assert ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "wardbook"
    hpa = resources[("HorizontalPodAutoscaler", "wardbook")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "wardbook"
    assert hpa["minReplicas"] < hpa["maxReplicas"]
    pdb = resources[("PodDisruptionBudget", "wardbook")]["spec"]
    assert pdb["minAvailable"] < hpa["minReplicas"] or pdb["minAvailable"] == 0


def test_network_policy_denies_by_default(rendered: tuple) -> None:
    _, resources = rendered
    deny = resources[("NetworkPolicy", "default-deny-all")]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    wardbook = resources[("NetworkPolicy", "wardbook")]["spec"]
    assert wardbook["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert wardbook["egress"][0]["to"][0]["podSelector"]["matchLabels"] == {
        "cnpg.io/cluster": "wardbook-db"
    }


def test_service_account_has_no_token(rendered: tuple) -> None:
    _, resources = rendered
    assert resources[("ServiceAccount", "wardbook")]["automountServiceAccountToken"] is False
    for kind in ("Deployment", "Job"):
        for resource in _by_kind(resources, kind):
            assert resource["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_database_cluster_backup_and_migration(rendered: tuple) -> None:
    env, resources = rendered
    cluster = resources[("Cluster", "wardbook-db")]["spec"]
    archive = cluster["backup"]["barmanObjectStore"]
    assert archive["wal"]["compression"] == "gzip"
    assert archive["destinationPath"] == f"s3://wardbook-{env}-backups/wardbook-db"
    assert cluster["backup"]["retentionPolicy"] == "35d"
    if env == "dev":
        assert cluster["instances"] == 1 and "minSyncReplicas" not in cluster
    else:
        assert cluster["instances"] == 3
        assert cluster["minSyncReplicas"] == cluster["maxSyncReplicas"] == 1
    assert resources[("ScheduledBackup", "wardbook-db-daily")]["spec"]["cluster"] == {
        "name": "wardbook-db"
    }
    job = resources[("Job", "wardbook-migrate")]["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["migrate"]
    assert job["restartPolicy"] == "Never"
    cron = resources[("CronJob", "wardbook-backup")]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    backup = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert "wardbook backup --verify --output" in backup["args"][0]
    # --verify restores into a scratch database the app role owns (it has no CREATEDB).
    env = {item["name"]: item.get("value") for item in backup["env"]}
    scratch = resources[("Database", "wardbook-db-verify")]["spec"]
    assert env["WARDBOOK_BACKUP_VERIFY_DATABASE"] == scratch["name"] == "wardbook_verify"
    assert scratch["owner"] == cluster["bootstrap"]["initdb"]["owner"]
    assert scratch["cluster"] == {"name": "wardbook-db"}


def test_images_are_the_project_image_and_every_waiver_has_a_reason(rendered: tuple) -> None:
    _, resources = rendered
    for resource in resources.values():
        for key, value in resource["metadata"].get("annotations", {}).items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                assert check.startswith("CKV_") and len(reason) > 40, (key, value)
        spec = resource.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
        for container in template.get("spec", {}).get("containers", []):
            assert container["image"].startswith("ghcr.io/wardbook/wardbook")


def _container_env(resources: dict, container: dict, secrets: dict[str, dict[str, str]]) -> dict:
    """The environment Kubernetes would give ``container``: envFrom, then env with $(VAR)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(resources[("ConfigMap", source["configMapRef"]["name"])]["data"])
        else:
            env.update(secrets[source["secretRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            value = item["value"]
            for name, known in env.items():
                value = value.replace(f"$({name})", known)
            env[item["name"]] = value
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def test_the_rendered_configuration_passes_config_check(rendered: tuple) -> None:
    """Run the app's `wardbook config check` with exactly the environment the pod gets.

    Secrets are stand-ins shaped like the real ones (CloudNativePG's app secret, a random key).
    """
    env_name, resources = rendered
    secrets = {
        "wardbook-db-app": {
            "uri": "postgresql://wardbook:pw@wardbook-db-rw:5432/wardbook",
            "username": "wardbook",
            "password": "pw",
        },
        "wardbook-secrets": {"WARDBOOK_SECRET_KEY": "Zq8vN3kP7xR2mW9tB4cY6hJ1dF5gL0sA"},
    }
    pod = resources[("Deployment", "wardbook")]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["args"] == ["config", "check"]
    env = _container_env(resources, pod["containers"][0], secrets)
    assert env == _container_env(resources, init, secrets)  # checks what the server will use
    assert env["WARDBOOK_ENV"] == ENVIRONMENTS[env_name][2]
    wardbook = ROOT / ".venv" / "bin" / "wardbook"
    result = subprocess.run(
        [str(wardbook), "config", "check"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pw@" not in result.stdout and "@wardbook-db-ro:5432" in result.stdout
