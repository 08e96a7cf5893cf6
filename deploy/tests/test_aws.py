"""Every environment's CDK stack synthesizes offline and holds what issue 9 asks for.

Synthesis runs in this process (`app.synth()`; aws-cdk-lib's jsii runtime needs node),
with no AWS credentials and no context lookups; assertions use aws_cdk.assertions.
cfn-lint and checkov run on the same templates in scripts/deploy/check-aws.sh.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(_name, None)

from app import build_app  # noqa: E402
from aws_cdk.assertions import Match, Template  # noqa: E402
from wardbook_cdk.config import (  # noqa: E402
    ENVIRONMENTS,
    EnvironmentConfig,
    availability_zone_context,
)

ROOT = Path(__file__).resolve().parents[2]
PROMOTED = "ghcr.io/wardbook/wardbook@sha256:" + "d" * 64  # `cdk deploy -c image.staging=...`


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stacks = build_app(str(outdir), {"image.staging": PROMOTED})
    app.synth()
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert "missing" not in manifest, f"synth needed a context lookup: {manifest['missing']}"
    return {name: Template.from_stack(stack) for name, stack in stacks.items()}


def test_one_stack_per_environment_named_so(templates: dict[str, Template]) -> None:
    assert set(templates) == {"dev", "staging", "production"}
    assert {c.stack_name for c in ENVIRONMENTS.values()} == {
        "wardbook-dev",
        "wardbook-staging",
        "wardbook-production",
    }


def test_context_file_pins_the_configured_zones() -> None:
    committed = json.loads((ROOT / "deploy" / "aws" / "cdk.context.json").read_text())
    assert committed == availability_zone_context()


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_vpc_spans_three_fixed_zones(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert len(subnets) == 9  # public, app, data in each zone
    zones = {s["Properties"]["AvailabilityZone"] for s in subnets.values()}
    assert zones == set(ENVIRONMENTS[env].availability_zones)
    template.resource_count_is("AWS::EC2::NatGateway", ENVIRONMENTS[env].nat_gateways)
    template.resource_count_is("AWS::EC2::FlowLog", 1)


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_fargate_behind_tls_load_balancer_with_two_scaling_policies(
    templates: dict[str, Template], env: str
) -> None:
    config = ENVIRONMENTS[env]
    template = templates[env]
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "DesiredCount": config.min_tasks,
            "DeploymentConfiguration": Match.object_like(
                {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
            ),
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 443,
            "Protocol": "HTTPS",
            "Certificates": [{"CertificateArn": config.certificate_arn}],
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Port": 80, "DefaultActions": [Match.object_like({"Type": "redirect"})]},
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup", {"HealthCheckPath": "/readyz"}
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": config.min_tasks, "MaxCapacity": config.max_tasks},
    )
    metrics = {
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"][
            "PredefinedMetricSpecification"
        ]["PredefinedMetricType"]
        for p in template.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    }
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    task = next(iter(template.find_resources("AWS::ECS::TaskDefinition").values()))
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["ReadonlyRootFilesystem"] is True
    assert container["User"] == "10001:10001"
    assert container["Image"] == (PROMOTED if env == "staging" else config.image)
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["WARDBOOK_WORKERS"] == str(config.workers)
    assert {s["Name"] for s in container["Secrets"]} == {
        "DB_USER",
        "DB_PASSWORD",
        "WARDBOOK_SECRET_KEY",
    }


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_postgres_encrypted_backed_up_and_replicated(
    templates: dict[str, Template], env: str
) -> None:
    config = ENVIRONMENTS[env]
    template = templates[env]
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": Match.string_like_regexp(r"^15\."),
            "MultiAZ": config.db_multi_az,
            "StorageEncrypted": True,
            "KmsKeyId": Match.any_value(),
            "BackupRetentionPeriod": config.backup_retention_days,
            "DeletionProtection": config.deletion_protection,
            "DBSubnetGroupName": Match.any_value(),
        },
    )
    replicas = template.find_resources(
        "AWS::RDS::DBInstance",
        {"Properties": {"SourceDBInstanceIdentifier": Match.any_value()}},
    )
    assert len(replicas) == (1 if config.db_read_replica else 0)
    template.resource_count_is("AWS::SecretsManager::Secret", 2)
    template.has_resource_properties("AWS::SecretsManager::Secret", {"KmsKeyId": Match.any_value()})


def test_production_keeps_35_days_of_backups(templates: dict[str, Template]) -> None:
    assert ENVIRONMENTS["production"].backup_retention_days == 35
    templates["production"].has_resource_properties(
        "AWS::RDS::DBInstance", {"BackupRetentionPeriod": 35, "MultiAZ": True}
    )


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_static_assets_cloudfront_security_headers_and_waf(
    templates: dict[str, Template], env: str
) -> None:
    template = templates[env]
    template.has_resource_properties(
        "AWS::CloudFront::ResponseHeadersPolicy",
        {
            "ResponseHeadersPolicyConfig": Match.object_like(
                {
                    "SecurityHeadersConfig": Match.object_like(
                        {
                            "StrictTransportSecurity": Match.object_like(
                                {"AccessControlMaxAgeSec": 730 * 86400, "IncludeSubdomains": True}
                            ),
                            "ContentSecurityPolicy": Match.any_value(),
                            "ContentTypeOptions": Match.any_value(),
                            "FrameOptions": Match.object_like({"FrameOption": "DENY"}),
                        }
                    )
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "DefaultCacheBehavior": Match.object_like(
                        {"ViewerProtocolPolicy": "redirect-to-https"}
                    )
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"PublicAccessBlockConfiguration": Match.object_like({"BlockPublicPolicy": True})},
    )
    acl = next(iter(template.find_resources("AWS::WAFv2::WebACL").values()))
    assert acl["Properties"]["Scope"] == "REGIONAL"
    names = {r["Name"] for r in acl["Properties"]["Rules"]}
    assert {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "RateLimitPerAddress",
    } <= names
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_alarms_notify_the_alarm_topic(templates: dict[str, Template], env: str) -> None:
    template = templates[env]
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) >= (9 if ENVIRONMENTS[env].db_read_replica else 8)
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"], alarm
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": ENVIRONMENTS[env].alarm_email},
    )


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_every_checkov_waiver_has_a_reason(templates: dict[str, Template], env: str) -> None:
    resources = templates[env].to_json()["Resources"]
    for resource in resources.values():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV") and len(skip["comment"]) > 30, skip
    metadata = templates[env].to_json()["Metadata"]
    waived = metadata["cfn-lint"]["config"]["ignore_checks"]
    assert set(waived) == set(metadata["wardbook-cfn-lint-waivers"])


def test_production_config_refuses_unsafe_settings() -> None:
    production = ENVIRONMENTS["production"]
    for change in (
        {"db_multi_az": False},
        {"db_read_replica": False},
        {"min_tasks": 1},
        {"deletion_protection": False},
        {"backup_retention_days": 40},
        {"availability_zones": ("eu-west-2a", "eu-west-2a", "eu-west-2b")},
    ):
        with pytest.raises(ValueError):
            dataclasses.replace(production, **change)
    assert isinstance(dataclasses.replace(production, max_tasks=30), EnvironmentConfig)


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_the_task_configuration_passes_config_check(
    templates: dict[str, Template], env: str
) -> None:
    """The task's environment, with stand-in secrets and the URL its entry point assembles,
    passes the app's `wardbook config check` for the environment's profile."""
    task = next(iter(templates[env].find_resources("AWS::ECS::TaskDefinition").values()))
    (container,) = task["Properties"]["ContainerDefinitions"]
    environment = {
        e["Name"]: e["Value"] if isinstance(e["Value"], str) else "db.internal"
        for e in container["Environment"]
    }
    environment["WARDBOOK_SECRET_KEY"] = "Zq8vN3kP7xR2mW9tB4cY6hJ1dF5gL0sA"
    user, password = "wardbook", "pw"
    environment["WARDBOOK_DATABASE_URL"] = (
        f"postgresql://{user}:{password}@{environment.pop('DB_HOST')}:5432/wardbook"
    )
    if replica := environment.pop("DB_REPLICA_HOST"):
        environment["WARDBOOK_DATABASE_REPLICA_URLS"] = (
            f"postgresql://{user}:{password}@{replica}:5432/wardbook"
        )
    assert ("WARDBOOK_DATABASE_REPLICA_URLS" in environment) == ENVIRONMENTS[env].db_read_replica
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "wardbook"), "config", "check"],
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    entry = " ".join(container["EntryPoint"])
    assert "WARDBOOK_DATABASE_URL=" in entry and "exec wardbook" in entry
