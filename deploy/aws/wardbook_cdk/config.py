"""The one typed configuration every environment's stack is built from.

Everything a synth needs is here, so `cdk synth` runs offline with no credentials and no
context lookups: account ids, regions and availability zones are fixed values, the TLS
certificate is referenced by ARN (ACM), and the image by registry and tag or digest.
Replace the example account ids, domains and certificate ARNs with the hospital's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EnvironmentName = Literal["dev", "staging", "production"]


@dataclass(frozen=True)
class EnvironmentConfig:
    """One deployment environment of Wardbook on AWS."""

    name: EnvironmentName
    account: str
    region: str
    availability_zones: tuple[str, str, str]
    domain_name: str
    certificate_arn: str  # ACM certificate for domain_name, in `region`
    image: str  # e.g. ghcr.io/wardbook/wardbook@sha256:... (deploy sets the digest)
    alarm_email: str
    vpc_cidr: str
    nat_gateways: int
    task_cpu: int  # Fargate CPU units
    task_memory_mib: int
    workers: int  # granian workers per task (WARDBOOK_WORKERS)
    min_tasks: int
    max_tasks: int
    requests_per_target: int  # autoscaling target: ALB requests per task per minute
    db_instance_class: str  # e.g. "r6g.large"
    db_allocated_storage_gib: int
    db_max_allocated_storage_gib: int
    db_multi_az: bool
    db_read_replica: bool
    backup_retention_days: int = 35
    deletion_protection: bool = True
    log_retention_days: int = 365

    def __post_init__(self) -> None:
        if len(set(self.availability_zones)) != 3:
            raise ValueError(f"{self.name}: three distinct availability zones are required")
        if not all(az.startswith(self.region) for az in self.availability_zones):
            raise ValueError(f"{self.name}: availability zones must be in {self.region}")
        if not (len(self.account) == 12 and self.account.isdigit()):
            raise ValueError(f"{self.name}: account must be a 12-digit AWS account id")
        if not 1 <= self.backup_retention_days <= 35:
            raise ValueError(f"{self.name}: RDS keeps automated backups for 1 to 35 days")
        if not 1 <= self.min_tasks <= self.max_tasks:
            raise ValueError(f"{self.name}: need 1 <= min_tasks <= max_tasks")
        if self.name == "production":
            if not (self.db_multi_az and self.db_read_replica and self.deletion_protection):
                raise ValueError(
                    "production needs Multi-AZ, a read replica and deletion protection"
                )
            if self.min_tasks < 2 or self.nat_gateways < 3:
                raise ValueError("production needs at least 2 tasks and a NAT gateway per AZ")

    @property
    def stack_name(self) -> str:
        return f"wardbook-{self.name}"


_REGION = "eu-west-2"
_AZS = ("eu-west-2a", "eu-west-2b", "eu-west-2c")
_IMAGE = "ghcr.io/wardbook/wardbook"

ENVIRONMENTS: dict[str, EnvironmentConfig] = {
    "dev": EnvironmentConfig(
        name="dev",
        account="111111111111",
        region=_REGION,
        availability_zones=_AZS,
        domain_name="dev.wardbook.example.org",
        certificate_arn=f"arn:aws:acm:{_REGION}:111111111111:certificate/00000000-0000-4000-8000-000000000001",
        image=f"{_IMAGE}:dev",
        alarm_email="wardbook-dev-alerts@example.org",
        vpc_cidr="10.10.0.0/16",
        nat_gateways=1,
        task_cpu=512,
        task_memory_mib=1024,
        workers=1,
        min_tasks=1,
        max_tasks=3,
        requests_per_target=600,
        db_instance_class="t4g.medium",
        db_allocated_storage_gib=20,
        db_max_allocated_storage_gib=100,
        db_multi_az=False,
        db_read_replica=False,
        backup_retention_days=7,
        deletion_protection=False,
        log_retention_days=30,
    ),
    "staging": EnvironmentConfig(
        name="staging",
        account="222222222222",
        region=_REGION,
        availability_zones=_AZS,
        domain_name="staging.wardbook.example.org",
        certificate_arn=f"arn:aws:acm:{_REGION}:222222222222:certificate/00000000-0000-4000-8000-000000000002",
        image=f"{_IMAGE}:staging",
        alarm_email="wardbook-staging-alerts@example.org",
        vpc_cidr="10.20.0.0/16",
        nat_gateways=3,
        task_cpu=1024,
        task_memory_mib=2048,
        workers=2,
        min_tasks=2,
        max_tasks=6,
        requests_per_target=1200,
        db_instance_class="r6g.large",
        db_allocated_storage_gib=100,
        db_max_allocated_storage_gib=500,
        db_multi_az=True,
        db_read_replica=True,
    ),
    "production": EnvironmentConfig(
        name="production",
        account="333333333333",
        region=_REGION,
        availability_zones=_AZS,
        domain_name="wardbook.example.org",
        certificate_arn=f"arn:aws:acm:{_REGION}:333333333333:certificate/00000000-0000-4000-8000-000000000003",
        image=f"{_IMAGE}:production",
        alarm_email="wardbook-oncall@example.org",
        vpc_cidr="10.30.0.0/16",
        nat_gateways=3,
        task_cpu=2048,
        task_memory_mib=4096,
        workers=4,
        min_tasks=3,
        max_tasks=20,
        requests_per_target=1200,
        db_instance_class="r6g.xlarge",
        db_allocated_storage_gib=500,
        db_max_allocated_storage_gib=4000,
        db_multi_az=True,
        db_read_replica=True,
    ),
}


def availability_zone_context() -> dict[str, list[str]]:
    """The cdk.context.json entries that pin each environment's zones (no lookup)."""
    return {
        f"availability-zones:account={c.account}:region={c.region}": list(c.availability_zones)
        for c in ENVIRONMENTS.values()
    }
