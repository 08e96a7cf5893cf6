"""Split a rendered multi-document manifest into built-in kinds and custom resources.

Usage: python split_crds.py RENDERED BUILTIN_OUT CUSTOM_OUT
Custom resources are excepted by API group name from kubernetes-validate (which has only
the built-in schemas); the groups are listed here with the operator that defines them.
"""

from __future__ import annotations

import sys

import yaml

CUSTOM_GROUPS = {
    "postgresql.cnpg.io": "CloudNativePG operator (Cluster, ScheduledBackup, Database)",
}


def main(rendered: str, builtin_out: str, custom_out: str) -> int:
    with open(rendered) as handle:
        documents = [d for d in yaml.safe_load_all(handle) if d]
    builtin, custom = [], []
    for document in documents:
        group = document["apiVersion"].split("/")[0] if "/" in document["apiVersion"] else ""
        (custom if group in CUSTOM_GROUPS else builtin).append(document)
    with open(builtin_out, "w") as handle:
        yaml.safe_dump_all(builtin, handle, sort_keys=False)
    with open(custom_out, "w") as handle:
        yaml.safe_dump_all(custom, handle, sort_keys=False)
    print(f"{len(builtin)} built-in resources, {len(custom)} custom resources excepted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
