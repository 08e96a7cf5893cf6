#!/usr/bin/env python3
"""A stand-in for kubectl that keeps a cluster's state in a JSON file ($FAKE_KUBE_STATE).

Implements the verbs scripts/deploy/release.py uses, with Deployment revisions and
ReplicaSets as Kubernetes keeps them; `kustomize` goes to the real kubectl ($REAL_KUBECTL).
Failure injection: state["fail_rollout_for"] (images whose rollout never completes) and
state["fail_migration"]. Every call is appended to state["calls"].
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

STATE = os.environ["FAKE_KUBE_STATE"]


def load() -> dict:
    with open(STATE) as handle:
        return json.load(handle)


def save(state: dict) -> None:
    with open(STATE, "w") as handle:
        json.dump(state, handle, indent=1)


def deployment_json(state: dict) -> dict:
    d = state["deployment"]
    return {
        "metadata": {"name": "wardbook", "annotations": d["annotations"]},
        "spec": {"template": {"spec": {"containers": [{"name": "wardbook", "image": d["image"]}]}}},
    }


def new_revision(state: dict, image: str) -> None:
    d = state["deployment"]
    d["image"] = image
    d["revision"] = d.get("revision", 0) + 1
    state["replicasets"] = [rs for rs in state["replicasets"] if rs["image"] != image]
    state["replicasets"].append({"image": image, "revision": d["revision"]})


def main(args: list[str]) -> int:
    if args and args[0] == "kustomize":
        return subprocess.run([os.environ["REAL_KUBECTL"], *args]).returncode
    state = load()
    namespace = None
    if args[:1] == ["--namespace"]:
        namespace, args = args[1], args[2:]
    state["calls"].append([namespace, *args])
    verb = args[0]
    try:
        if verb == "get" and args[1] == "deployment":
            if state.get("deployment") is None:
                print(
                    'Error from server (NotFound): deployments.apps "wardbook" not found',
                    file=sys.stderr,
                )
                return 1
            print(json.dumps(deployment_json(state)))
        elif verb == "get" and args[1] == "replicasets":
            items = [
                {
                    "metadata": {
                        "annotations": {"deployment.kubernetes.io/revision": str(rs["revision"])},
                        "ownerReferences": [{"kind": "Deployment", "name": "wardbook"}],
                    },
                    "spec": {
                        "template": {
                            "spec": {"containers": [{"name": "wardbook", "image": rs["image"]}]}
                        }
                    },
                }
                for rs in state["replicasets"]
            ]
            print(json.dumps({"items": items}))
        elif verb == "apply":
            with open(args[args.index("-f") + 1]) as handle:
                text = handle.read()
            kinds = re.findall(r"^kind: (\S+)$", text, re.MULTILINE)
            state["applied"].append(kinds)
            if "Deployment" in kinds:
                block = text.split("kind: Deployment", 1)[1]
                image = re.search(r"image: (\S+)", block)[1]
                if state.get("deployment") is None:
                    state["deployment"] = {"annotations": {}, "revision": 0}
                if state["deployment"].get("image") != image:
                    new_revision(state, image)
        elif verb == "delete":
            pass
        elif verb == "wait":
            if "job/wardbook-migrate" in args and state.get("fail_migration"):
                print(
                    "error: timed out waiting for the condition on jobs/wardbook-migrate",
                    file=sys.stderr,
                )
                return 1
        elif verb == "annotate":
            for item in args[3:]:
                if item == "--overwrite":
                    continue
                if item.endswith("-"):
                    state["deployment"]["annotations"].pop(item[:-1], None)
                else:
                    key, value = item.split("=", 1)
                    state["deployment"]["annotations"][key] = value
        elif verb == "rollout" and args[1] == "status":
            if state["deployment"]["image"] in state.get("fail_rollout_for", []):
                print(
                    'error: deployment "wardbook" exceeded its progress deadline', file=sys.stderr
                )
                return 1
            print('deployment "wardbook" successfully rolled out')
        elif verb == "rollout" and args[1] == "undo":
            revision = int(next(a for a in args if a.startswith("--to-revision=")).split("=")[1])
            image = next(rs["image"] for rs in state["replicasets"] if rs["revision"] == revision)
            new_revision(state, image)
        elif verb == "set" and args[1] == "image":
            new_revision(state, args[3].split("=", 1)[1])
        else:
            print(f"fake kubectl: unsupported {args}", file=sys.stderr)
            return 2
    finally:
        save(state)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
