#!/usr/bin/env python3
"""Deploy one image digest to an environment, and roll it back. Called by the workflows.

    release.py deploy ENV IMAGE@sha256:DIGEST   render the overlay with that digest, run the
                                                migration Job, roll the Deployment, wait
    release.py rollback ENV                     back to the image that ran before the last
                                                deploy (the pod template of that revision)
    release.py render ENV IMAGE@sha256:DIGEST   print the manifests deploy would apply

Only digests are deployed, so staging and production run the very image that was tested in
dev. Migrations are expand-only within a release (docs/operations/migrations.md), so a
rollback never needs a schema downgrade. kubectl is $KUBECTL (default: kubectl on PATH);
standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMAGE_NAME = "ghcr.io/wardbook/wardbook"
NAMESPACES = {"dev": "wardbook-dev", "staging": "wardbook-staging", "production": "wardbook"}
DIGEST_REF = re.compile(
    r"^(?P<repo>[a-z0-9][a-z0-9._/-]*(?::\d+)?/[a-z0-9._/-]+)@(?P<digest>sha256:[0-9a-f]{64})$"
)
PREVIOUS = "wardbook.io/previous-image"
DEPLOYED = "wardbook.io/deployed-image"
SERVER_SELECTOR = "app.kubernetes.io/name=wardbook,app.kubernetes.io/component=server"
ROLLOUT_TIMEOUT = os.environ.get("WARDBOOK_ROLLOUT_TIMEOUT", "600s")


class ReleaseError(Exception):
    """The release step failed; the message says which step and why."""


def kubectl(
    *args: str, namespace: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [os.environ.get("KUBECTL", "kubectl")]
    if namespace:
        command += ["--namespace", namespace]
    command += list(args)
    result = subprocess.run(command, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ReleaseError(
            f"{' '.join(command[1:])}: {result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def render(env: str, image: str) -> str:
    match = DIGEST_REF.match(image)
    if match is None:
        raise ReleaseError(f"{image!r} is not an image pinned by digest (repo@sha256:<64 hex>)")
    if env not in NAMESPACES:
        raise ReleaseError(f"unknown environment {env!r}: use {', '.join(NAMESPACES)}")
    build = ROOT / "build" / "release"
    build.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build) as work:
        overlay = os.path.relpath(ROOT / "deploy" / "kubernetes" / "overlays" / env, work)
        Path(work, "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {overlay}\n"
            f"images:\n  - name: {IMAGE_NAME}\n    newName: {match['repo']}\n"
            f"    digest: {match['digest']}\n"
        )
        return kubectl("kustomize", work).stdout


def split(manifests: str) -> list[tuple[str, str, str]]:
    """(kind, name, document) for each document of kustomize's normalized output."""
    result = []
    for document in re.split(r"^---\s*$", manifests, flags=re.MULTILINE):
        kind = re.search(r"^kind: (\S+)$", document, re.MULTILINE)
        name = re.search(r"^metadata:\n(?:  .*\n)*?  name: (\S+)$", document, re.MULTILINE)
        if kind and name:
            result.append((kind[1], name[1], document.strip() + "\n"))
    return result


def apply(documents: list[str], namespace: str | None = None) -> None:
    if not documents:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write("---\n".join(documents))
    try:
        kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", handle.name, namespace=namespace
        )
    finally:
        os.unlink(handle.name)


def current_deployment(namespace: str) -> dict[str, Any] | None:
    result = kubectl(
        "get", "deployment", "wardbook", "-o", "json", namespace=namespace, check=False
    )
    if result.returncode != 0:
        if "NotFound" in result.stderr or "not found" in result.stderr:
            return None
        raise ReleaseError(f"get deployment/wardbook: {result.stderr.strip()}")
    deployment: dict[str, Any] = json.loads(result.stdout)
    return deployment


def image_of(deployment: dict[str, Any]) -> str:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return str(next(c["image"] for c in containers if c["name"] == "wardbook"))


def deploy(env: str, image: str) -> None:
    namespace = NAMESPACES[env]
    documents = split(render(env, image))
    before = current_deployment(namespace)
    previous = image_of(before) if before else None
    print(f"deploy: {env} ({namespace}) {previous or '(first deploy)'} -> {image}")

    later = {"Deployment", "Job", "HorizontalPodAutoscaler"}
    apply([doc for kind, _, doc in documents if kind not in later])
    for kind, name, _ in documents:
        if kind == "Cluster":  # CloudNativePG: a new cluster takes minutes to initialise
            ready = kubectl(
                "wait",
                "--for=condition=Ready",
                f"cluster/{name}",
                f"--timeout={ROLLOUT_TIMEOUT}",
                namespace=namespace,
                check=False,
            )
            if ready.returncode != 0:
                raise ReleaseError(f"database cluster {name} is not ready: {ready.stderr.strip()}")
    # Expand-phase migrations run before any new pod starts; the old release keeps working.
    kubectl(
        "delete",
        "job",
        "wardbook-migrate",
        "--ignore-not-found",
        "--wait=true",
        namespace=namespace,
    )
    apply([doc for kind, _, doc in documents if kind == "Job"])
    migrated = kubectl(
        "wait",
        "--for=condition=complete",
        "job/wardbook-migrate",
        f"--timeout={ROLLOUT_TIMEOUT}",
        namespace=namespace,
        check=False,
    )
    if migrated.returncode != 0:
        raise ReleaseError(f"migration job did not complete: {migrated.stderr.strip()}")
    print("deploy: migrations applied")

    apply([doc for kind, _, doc in documents if kind in ("Deployment", "HorizontalPodAutoscaler")])
    annotations = [f"{DEPLOYED}={image}"]
    if previous and previous != image:
        annotations.append(f"{PREVIOUS}={previous}")
    kubectl("annotate", "deployment", "wardbook", *annotations, "--overwrite", namespace=namespace)
    rolled = kubectl(
        "rollout",
        "status",
        "deployment/wardbook",
        f"--timeout={ROLLOUT_TIMEOUT}",
        namespace=namespace,
        check=False,
    )
    if rolled.returncode != 0:
        raise ReleaseError(
            f"rollout did not complete: {rolled.stderr.strip() or rolled.stdout.strip()}"
        )
    print(f"deploy: {env} runs {image}")


def rollback(env: str) -> None:
    namespace = NAMESPACES[env]
    deployment = current_deployment(namespace)
    if deployment is None:
        raise ReleaseError(f"{env}: no deployment to roll back")
    current = image_of(deployment)
    target = deployment["metadata"].get("annotations", {}).get(PREVIOUS)
    if not target:
        raise ReleaseError(
            f"{env}: no previous image recorded ({PREVIOUS}); nothing to roll back to"
        )
    if target == current:
        print(f"rollback: {env} already runs {target}")
        return
    print(f"rollback: {env} {current} -> {target}")
    sets = json.loads(
        kubectl(
            "get", "replicasets", "-l", SERVER_SELECTOR, "-o", "json", namespace=namespace
        ).stdout
    )["items"]
    revisions = [
        int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
        for rs in sets
        if any(o.get("name") == "wardbook" for o in rs["metadata"].get("ownerReferences", []))
        and any(c["image"] == target for c in rs["spec"]["template"]["spec"]["containers"])
    ]
    if revisions:
        # The whole pod template of that revision: image and the (hashed) ConfigMap it used.
        kubectl(
            "rollout",
            "undo",
            "deployment/wardbook",
            f"--to-revision={max(revisions)}",
            namespace=namespace,
        )
    else:
        kubectl("set", "image", "deployment/wardbook", f"wardbook={target}", namespace=namespace)
    kubectl(
        "annotate",
        "deployment",
        "wardbook",
        f"{DEPLOYED}={target}",
        f"wardbook.io/rolled-back-from={current}",
        f"{PREVIOUS}-",
        "--overwrite",
        namespace=namespace,
    )
    rolled = kubectl(
        "rollout",
        "status",
        "deployment/wardbook",
        f"--timeout={ROLLOUT_TIMEOUT}",
        namespace=namespace,
        check=False,
    )
    if rolled.returncode != 0:
        raise ReleaseError(f"rollback rollout did not complete: {rolled.stderr.strip()}")
    print(f"rollback: {env} runs {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deploy or roll back Wardbook on Kubernetes")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("deploy", "render"):
        command = sub.add_parser(name)
        command.add_argument("env", choices=sorted(NAMESPACES))
        command.add_argument("image", help="repo@sha256:<digest>")
    sub.add_parser("rollback").add_argument("env", choices=sorted(NAMESPACES))
    args = parser.parse_args(argv)
    if shutil.which(os.environ.get("KUBECTL", "kubectl")) is None:
        print(f"{args.command}: kubectl not found", file=sys.stderr)
        return 2
    try:
        if args.command == "render":
            sys.stdout.write(render(args.env, args.image))
        elif args.command == "deploy":
            deploy(args.env, args.image)
        else:
            rollback(args.env)
    except ReleaseError as error:
        print(f"{args.command}: FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
