"""CDK app: `cdk synth` (or `python app.py`) writes one template per environment.

Offline by design: no credentials, no lookups (zones are fixed in wardbook_cdk/config.py and
repeated in cdk.context.json for the CDK CLI). Output folder: $CDK_OUTDIR or ./cdk.out.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aws_cdk as cdk
from wardbook_cdk.config import ENVIRONMENTS, availability_zone_context
from wardbook_cdk.stack import WardbookStack


def build_app(
    outdir: str | None = None, extra_context: dict[str, object] | None = None
) -> tuple[cdk.App, dict[str, WardbookStack]]:
    context: dict[str, object] = {
        **(extra_context or {}),
        **availability_zone_context(),
        # Access-log buckets get a bucket policy, not the legacy LogDeliveryWrite ACL.
        "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    }
    app = cdk.App(outdir=outdir, context=context)
    stacks = {}
    for name, config in ENVIRONMENTS.items():
        # `cdk deploy -c image.staging=ghcr.io/...@sha256:...` deploys that exact image.
        image = app.node.try_get_context(f"image.{name}")
        if image:
            config = dataclasses.replace(config, image=str(image))
        stacks[name] = WardbookStack(app, config)
    return app, stacks


if __name__ == "__main__":
    app, _ = build_app(os.environ.get("CDK_OUTDIR"))
    app.synth()
