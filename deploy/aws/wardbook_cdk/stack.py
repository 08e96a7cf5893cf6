"""One environment of Wardbook on AWS.

VPC over three AZs; ECS Fargate behind an Application Load Balancer with TLS, autoscaling on
CPU and on request count; RDS PostgreSQL 15 (Multi-AZ, a read replica, KMS encryption, 35-day
backups with point-in-time recovery); static assets in S3 behind CloudFront with security
headers; WAF on the load balancer; credentials in Secrets Manager; CloudWatch alarms to SNS.
checkov waivers are inline (`add_checkov_skip`) with their reasons.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import (
    aws_certificatemanager as acm,
)
from aws_cdk import (
    aws_cloudfront as cloudfront,
)
from aws_cdk import (
    aws_cloudfront_origins as origins,
)
from aws_cdk import (
    aws_cloudwatch as cloudwatch,
)
from aws_cdk import (
    aws_cloudwatch_actions as cw_actions,
)
from aws_cdk import (
    aws_ec2 as ec2,
)
from aws_cdk import (
    aws_ecs as ecs,
)
from aws_cdk import (
    aws_ecs_patterns as ecs_patterns,
)
from aws_cdk import (
    aws_elasticloadbalancingv2 as elbv2,
)
from aws_cdk import (
    aws_iam as iam,
)
from aws_cdk import (
    aws_kms as kms,
)
from aws_cdk import (
    aws_logs as logs,
)
from aws_cdk import (
    aws_rds as rds,
)
from aws_cdk import (
    aws_s3 as s3,
)
from aws_cdk import (
    aws_secretsmanager as secretsmanager,
)
from aws_cdk import (
    aws_sns as sns,
)
from aws_cdk import (
    aws_sns_subscriptions as subscriptions,
)
from aws_cdk import (
    aws_wafv2 as wafv2,
)
from constructs import Construct, IConstruct

from wardbook_cdk.config import EnvironmentConfig

CFN_LINT_WAIVERS = {
    "W3010": "Availability zones are fixed on purpose: synth must run offline with no lookups"
    " (issue 9), and the zones are part of the reviewed config (wardbook_cdk/config.py).",
    "W3005": "Redundant DependsOn emitted by CDK's own constructs (custom resource providers,"
    " ECS service on its listener); harmless and not under our control.",
}

# Characters that would need escaping in a postgresql:// URL are never generated.
_URL_UNSAFE = " %+~`#$&*()|[]{}:;<>?!'/@\"\\=,.^"


def add_checkov_skip(construct: Construct, check: str, reason: str) -> None:
    """Record a checkov waiver with its reason in the template (Metadata.checkov.skip)."""
    resource = (
        construct.node.default_child if not isinstance(construct, cdk.CfnResource) else construct
    )
    assert isinstance(resource, cdk.CfnResource)
    existing = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"].append({"id": check, "comment": reason})
    resource.add_metadata("checkov", existing)


# CDK's own helper functions (custom resource providers for log retention, auto-deleting dev
# buckets, locking the default security group) run only during deployments.
_CDK_HELPER_WAIVERS = {
    "CKV_AWS_115": "CDK-generated deployment helper Lambda: runs once per deployment, no concurrency limit needed.",
    "CKV_AWS_116": "CDK-generated deployment helper Lambda: CloudFormation reports its failures; a DLQ adds nothing.",
    "CKV_AWS_117": "CDK-generated deployment helper Lambda: calls AWS APIs only, holds no data, needs no VPC.",
    "CKV_AWS_173": "CDK-generated deployment helper Lambda: its environment holds no secrets.",
    "CKV_AWS_111": "CDK-generated policy of the log-retention helper: PutRetentionPolicy on log groups it creates.",
}
_CDK_HELPER_MARKERS = (
    "CustomResourceProvider",
    "LogRetention",
    "AWS679f53fac002430cb0da5b7982bd2287",
)


@jsii.implements(cdk.IAspect)
class _WaiveCdkHelpers:
    """Adds the checkov waivers above to the resources CDK generates for itself."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, cdk.CfnResource):
            return
        if node.cfn_resource_type not in ("AWS::Lambda::Function", "AWS::IAM::Policy"):
            return
        if any(marker in node.node.path for marker in _CDK_HELPER_MARKERS):
            for check, reason in _CDK_HELPER_WAIVERS.items():
                add_checkov_skip(node, check, reason)


class WardbookStack(cdk.Stack):
    """Everything one environment needs, named ``wardbook-<env>``."""

    def __init__(self, scope: Construct, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            config.stack_name,
            stack_name=config.stack_name,
            env=cdk.Environment(account=config.account, region=config.region),
            description=f"Wardbook FHIR server and clinician app ({config.name})",
            termination_protection=config.name == "production",
            **kwargs,
        )
        self.config = config
        # cfn-lint findings waived for the whole template, each with its reason.
        self.template_options.metadata = {
            "cfn-lint": {"config": {"ignore_checks": sorted(CFN_LINT_WAIVERS)}},
            "wardbook-cfn-lint-waivers": CFN_LINT_WAIVERS,
        }
        cdk.Tags.of(self).add("application", "wardbook")
        cdk.Tags.of(self).add("environment", config.name)
        removal = (
            cdk.RemovalPolicy.RETAIN if config.deletion_protection else cdk.RemovalPolicy.DESTROY
        )

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/wardbook-{config.name}",
            description="Wardbook: database, secrets, logs, alarms",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{config.region}.amazonaws.com"))

        self.vpc = self._vpc()
        self.access_logs = self._log_bucket(removal)
        self.alarm_topic = sns.Topic(
            self, "Alarms", master_key=self.key, display_name="Wardbook alarms"
        )
        self.alarm_topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))

        self.database, self.replica, self.db_secret = self._database(removal)
        self.app_secret = secretsmanager.Secret(
            self,
            "AppSecret",
            description="WARDBOOK_SECRET_KEY: signs sessions and tokens",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=removal,
        )
        add_checkov_skip(
            self.app_secret,
            "CKV2_AWS_57",
            "Rotating the signing key would sign out every clinician at once; it is rotated by"
            " a planned change (docs/operations/aws.md), not on a timer.",
        )
        self.service = self._service()
        self.static = self._static_site(removal)
        self._waf()
        self._alarms()
        cdk.Aspects.of(self).add(_WaiveCdkHelpers())
        if not config.db_multi_az:
            add_checkov_skip(
                self.database,
                "CKV_AWS_157",
                f"{config.name}: single-AZ database to save cost; holds no patient data"
                " (EnvironmentConfig refuses this for production).",
            )

        cdk.CfnOutput(
            self, "LoadBalancerDns", value=self.service.load_balancer.load_balancer_dns_name
        )
        cdk.CfnOutput(self, "StaticAssetsDomain", value=self.static.distribution_domain_name)
        cdk.CfnOutput(self, "DatabaseSecretArn", value=self.db_secret.secret_arn)

    # -- network ---------------------------------------------------------------------------

    def _vpc(self) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(self.config.vpc_cidr),
            max_azs=3,
            nat_gateways=self.config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            restrict_default_security_group=True,
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=self.key,
        )
        vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs)
        )
        return vpc

    def _log_bucket(self, removal: cdk.RemovalPolicy) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(400))],
            removal_policy=removal,
            auto_delete_objects=removal == cdk.RemovalPolicy.DESTROY,
        )
        for check, reason in (
            (
                "CKV_AWS_18",
                "This is the access-log bucket itself; logging it into itself would loop.",
            ),
            (
                "CKV_AWS_145",
                "ALB and CloudFront log delivery only supports SSE-S3 on the target bucket.",
            ),
        ):
            add_checkov_skip(bucket, check, reason)
        return bucket

    # -- database --------------------------------------------------------------------------

    def _database(
        self, removal: cdk.RemovalPolicy
    ) -> tuple[
        rds.DatabaseInstance, rds.DatabaseInstanceReadReplica | None, secretsmanager.ISecret
    ]:
        config = self.config
        engine = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_15_17)
        parameters = rds.ParameterGroup(
            self,
            "DbParameters",
            engine=engine,
            parameters={
                "rds.force_ssl": "1",
                "log_min_duration_statement": "1000",
                "log_connections": "1",
                "log_disconnections": "1",
            },
        )
        subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        instance_type = ec2.InstanceType(config.db_instance_class)
        database = rds.DatabaseInstance(
            self,
            "Database",
            engine=engine,
            instance_type=instance_type,
            vpc=self.vpc,
            vpc_subnets=subnets,
            multi_az=config.db_multi_az,
            database_name="wardbook",
            credentials=rds.Credentials.from_generated_secret(
                "wardbook", encryption_key=self.key, exclude_characters=_URL_UNSAFE
            ),
            parameter_group=parameters,
            allocated_storage=config.db_allocated_storage_gib,
            max_allocated_storage=config.db_max_allocated_storage_gib,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            storage_encryption_key=self.key,
            backup_retention=cdk.Duration.days(config.backup_retention_days),
            preferred_backup_window="01:00-02:00",
            preferred_maintenance_window="sun:03:00-sun:04:00",
            copy_tags_to_snapshot=True,
            deletion_protection=config.deletion_protection,
            removal_policy=cdk.RemovalPolicy.SNAPSHOT if config.deletion_protection else removal,
            auto_minor_version_upgrade=True,
            iam_authentication=True,
            enable_performance_insights=True,
            performance_insight_encryption_key=self.key,
            monitoring_interval=cdk.Duration.seconds(60),
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            cloudwatch_logs_retention=logs.RetentionDays.ONE_YEAR,
        )
        replica = None
        if config.db_read_replica:
            replica = rds.DatabaseInstanceReadReplica(
                self,
                "DatabaseReplica",
                source_database_instance=database,
                instance_type=instance_type,
                vpc=self.vpc,
                vpc_subnets=subnets,
                parameter_group=parameters,
                auto_minor_version_upgrade=True,
                iam_authentication=True,
                enable_performance_insights=True,
                performance_insight_encryption_key=self.key,
                monitoring_interval=cdk.Duration.seconds(60),
                cloudwatch_logs_exports=["postgresql", "upgrade"],
                deletion_protection=config.deletion_protection,
                removal_policy=removal,
            )
            add_checkov_skip(
                replica,
                "CKV_AWS_16",
                "A read replica inherits encryption and the KMS key from its encrypted source;"
                " CloudFormation rejects StorageEncrypted beside SourceDBInstanceIdentifier.",
            )
            add_checkov_skip(
                replica,
                "CKV_AWS_157",
                "The replica serves reads only; availability comes from the Multi-AZ primary"
                " (synchronous standby). A failed replica only sends reads back to the primary.",
            )
        assert database.secret is not None
        add_checkov_skip(
            database.secret,
            "CKV2_AWS_57",
            "Tasks read the password at start; a timed single-user rotation would break their"
            " new connections. Rotate with a rolling restart (docs/operations/aws.md).",
        )
        return database, replica, database.secret

    # -- application -----------------------------------------------------------------------

    def _service(self) -> ecs_patterns.ApplicationLoadBalancedFargateService:
        config = self.config
        cluster = ecs.Cluster(
            self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENHANCED
        )
        log_group = logs.LogGroup(
            self,
            "AppLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=self.key,
        )
        certificate = acm.Certificate.from_certificate_arn(
            self, "Certificate", config.certificate_arn
        )
        replica_host = self.replica.db_instance_endpoint_address if self.replica else ""
        environment = {
            "WARDBOOK_ENV": "development" if config.name == "dev" else config.name,
            "WARDBOOK_HOST": "0.0.0.0",
            "WARDBOOK_PORT": "8080",
            "WARDBOOK_WORKERS": str(config.workers),
            "WARDBOOK_BASE_URL": f"https://{config.domain_name}/fhir",
            "WARDBOOK_PUBLIC_URL": f"https://{config.domain_name}",
            "WARDBOOK_TLS_TERMINATED": "true",  # the ALB terminates TLS
            # The hospital's wall clock for every time the web app shows or reads: set your
            # hospital's IANA zone here (docs/operations/configuration.md).
            "WARDBOOK_TIMEZONE": "Europe/London",
            "DB_HOST": self.database.db_instance_endpoint_address,
            "DB_REPLICA_HOST": replica_host,
        }
        secrets = {
            "DB_USER": ecs.Secret.from_secrets_manager(self.db_secret, "username"),
            "DB_PASSWORD": ecs.Secret.from_secrets_manager(self.db_secret, "password"),
            "WARDBOOK_SECRET_KEY": ecs.Secret.from_secrets_manager(self.app_secret),
        }
        # The URL is assembled in the task from Secrets Manager fields (the generated password
        # has no URL-unsafe characters); the image's entrypoint is `wardbook`.
        start = (
            'export WARDBOOK_DATABASE_URL="postgresql://$DB_USER:$DB_PASSWORD@$DB_HOST:5432/wardbook";'
            ' if [ -n "$DB_REPLICA_HOST" ]; then export WARDBOOK_DATABASE_REPLICA_URLS='
            '"postgresql://$DB_USER:$DB_PASSWORD@$DB_REPLICA_HOST:5432/wardbook"; fi;'
            ' exec wardbook "$@"'
        )
        service = ecs_patterns.ApplicationLoadBalancedFargateService(
            self,
            "Service",
            cluster=cluster,
            cpu=config.task_cpu,
            memory_limit_mib=config.task_memory_mib,
            desired_count=config.min_tasks,
            certificate=certificate,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            redirect_http=True,
            public_load_balancer=True,
            task_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=cdk.Duration.seconds(60),
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_image_options=ecs_patterns.ApplicationLoadBalancedTaskImageOptions(
                image=ecs.ContainerImage.from_registry(config.image),
                container_port=8080,
                container_name="wardbook",
                entry_point=["/bin/bash", "-c", start, "wardbook"],
                command=["serve"],
                environment=environment,
                secrets=secrets,
                log_driver=ecs.LogDrivers.aws_logs(stream_prefix="wardbook", log_group=log_group),
            ),
        )
        container = service.task_definition.default_container
        assert container is not None
        container.add_mount_points(
            ecs.MountPoint(container_path="/tmp", source_volume="tmp", read_only=False)
        )
        service.task_definition.add_volume(name="tmp")
        task = service.task_definition.node.default_child
        assert isinstance(task, ecs.CfnTaskDefinition)
        task.add_property_override("ContainerDefinitions.0.ReadonlyRootFilesystem", True)
        task.add_property_override("ContainerDefinitions.0.User", "10001:10001")
        task.add_property_override(
            "ContainerDefinitions.0.HealthCheck",
            {
                "Command": [
                    "CMD",
                    "python3.11",
                    "-c",
                    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=4)",
                ],
                "Interval": 30,
                "Timeout": 5,
                "Retries": 3,
                "StartPeriod": 30,
            },
        )
        service.target_group.configure_health_check(
            path="/readyz", healthy_http_codes="200", interval=cdk.Duration.seconds(15)
        )
        service.target_group.set_attribute("deregistration_delay.timeout_seconds", "30")
        lb = service.load_balancer
        add_checkov_skip(
            lb.connections.security_groups[0],
            "CKV_AWS_260",
            "Port 80 only answers a redirect to HTTPS (redirect_http listener); no content.",
        )
        lb.log_access_logs(self.access_logs, prefix="alb")
        lb.set_attribute("routing.http.drop_invalid_header_fields.enabled", "true")
        lb.set_attribute(
            "deletion_protection.enabled", str(self.config.deletion_protection).lower()
        )

        self.database.connections.allow_default_port_from(service.service, "Wardbook tasks")
        if self.replica is not None:
            self.replica.connections.allow_default_port_from(service.service, "Wardbook tasks")

        scaling = service.service.auto_scale_task_count(
            min_capacity=config.min_tasks, max_capacity=config.max_tasks
        )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=60,
            scale_in_cooldown=cdk.Duration.minutes(5),
            scale_out_cooldown=cdk.Duration.minutes(1),
        )
        scaling.scale_on_request_count(
            "Requests",
            requests_per_target=config.requests_per_target,
            target_group=service.target_group,
        )
        return service

    # -- static assets -----------------------------------------------------------------------

    def _static_site(self, removal: cdk.RemovalPolicy) -> cloudfront.Distribution:
        bucket = s3.Bucket(
            self,
            "StaticAssets",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="static/",
            removal_policy=removal,
            auto_delete_objects=removal == cdk.RemovalPolicy.DESTROY,
        )
        add_checkov_skip(
            bucket,
            "CKV_AWS_145",
            "Public static assets (CSS, JS, images; no PHI) served through CloudFront with"
            " origin access control, which reads SSE-S3 objects without a key policy.",
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=cdk.Duration.days(730),
                    include_subdomains=True,
                    preload=True,
                    override=True,
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy="default-src 'self'; object-src 'none'; frame-ancestors 'none'",
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(
                    protection=True, mode_block=True, override=True
                ),
            ),
        )
        distribution = cloudfront.Distribution(
            self,
            "StaticDistribution",
            comment=f"Wardbook static assets ({self.config.name})",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                response_headers_policy=headers,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                compress=True,
            ),
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=self.access_logs,
            log_file_prefix="cloudfront/",
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        for check, reason in (
            (
                "CKV_AWS_68",
                "A CloudFront WAF must live in us-east-1; this distribution serves only public"
                " static files (no PHI, no dynamic paths). The API and app sit behind the"
                " regional WAF on the load balancer.",
            ),
            (
                "CKV_AWS_174",
                "TLS 1.2_2021 is set; checkov cannot see it while the distribution uses the"
                " default CloudFront certificate (no custom domain for static assets).",
            ),
            ("CKV_AWS_374", "Clinicians travel and use roaming devices: no geo restriction."),
            ("CKV_AWS_310", "Static files have a single origin; a failover origin adds nothing."),
        ):
            add_checkov_skip(distribution, check, reason)
        self.static_bucket = bucket
        return distribution

    # -- edge protection --------------------------------------------------------------------

    def _waf(self) -> None:
        def managed(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=name
                    )
                ),
                visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                    cloud_watch_metrics_enabled=True,
                    metric_name=name,
                    sampled_requests_enabled=True,
                ),
            )

        rate_limit = wafv2.CfnWebACL.RuleProperty(
            name="RateLimitPerAddress",
            priority=0,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=3000, aggregate_key_type="IP"
                )
            ),
            visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name="RateLimit",
                sampled_requests_enabled=True,
            ),
        )
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name="wardbook",
                sampled_requests_enabled=True,
            ),
            rules=[
                rate_limit,
                managed("AWSManagedRulesCommonRuleSet", 1),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 2),
                managed("AWSManagedRulesSQLiRuleSet", 3),
                managed("AWSManagedRulesAmazonIpReputationList", 4),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.service.load_balancer.load_balancer_arn,
            web_acl_arn=acl.attr_arn,
        )
        waf_logs = logs.CfnLogGroup(
            self,
            "WafLogs",
            log_group_name=f"aws-waf-logs-wardbook-{self.config.name}",
            retention_in_days=365,
            kms_key_id=self.key.key_arn,
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=acl.attr_arn,
            log_destination_configs=[
                cdk.Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=waf_logs.log_group_name,
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        ).node.add_dependency(waf_logs)
        self.web_acl = acl

    # -- alarms ------------------------------------------------------------------------------

    def _alarms(self) -> None:
        action = cw_actions.SnsAction(self.alarm_topic)
        lb = self.service.load_balancer
        tg = self.service.target_group
        alarms: list[cloudwatch.Alarm] = [
            lb.metrics.http_code_elb(
                elbv2.HttpCodeElb.ELB_5XX_COUNT, period=cdk.Duration.minutes(5)
            ).create_alarm(
                self,
                "Alb5xx",
                threshold=10,
                evaluation_periods=1,
                alarm_description="Load balancer answered 5xx (no healthy task?)",
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            tg.metrics.http_code_target(
                elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=cdk.Duration.minutes(5)
            ).create_alarm(
                self,
                "Target5xx",
                threshold=25,
                evaluation_periods=2,
                alarm_description="Wardbook answered 5xx; see runbook WardbookErrorSpike",
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            tg.metrics.target_response_time(
                period=cdk.Duration.minutes(5), statistic="p99"
            ).create_alarm(
                self,
                "LatencyP99",
                threshold=1,
                evaluation_periods=3,
                alarm_description="p99 response time over 1 s (latency SLO)",
            ),
            tg.metrics.unhealthy_host_count(period=cdk.Duration.minutes(1)).create_alarm(
                self,
                "UnhealthyTasks",
                threshold=1,
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                alarm_description="Tasks fail /readyz; see runbook WardbookDown",
            ),
            self.service.service.metric_cpu_utilization(
                period=cdk.Duration.minutes(5)
            ).create_alarm(
                self,
                "ServiceCpu",
                threshold=85,
                evaluation_periods=3,
                alarm_description="Tasks near their CPU limit at maximum scale?",
            ),
            self.database.metric_cpu_utilization(period=cdk.Duration.minutes(5)).create_alarm(
                self,
                "DatabaseCpu",
                threshold=80,
                evaluation_periods=3,
                alarm_description="Database CPU over 80%",
            ),
            self.database.metric_free_storage_space(period=cdk.Duration.minutes(5)).create_alarm(
                self,
                "DatabaseFreeStorage",
                threshold=0.15 * self.config.db_allocated_storage_gib * 1024**3,
                evaluation_periods=2,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                alarm_description="Under 15% of allocated storage free; see WardbookDiskSpaceLow",
            ),
            self.database.metric_freeable_memory(period=cdk.Duration.minutes(5)).create_alarm(
                self,
                "DatabaseFreeableMemory",
                threshold=256 * 1024**2,
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                alarm_description="Database under 256 MiB freeable memory",
            ),
        ]
        if self.replica is not None:
            alarms.append(
                cloudwatch.Metric(
                    namespace="AWS/RDS",
                    metric_name="ReplicaLag",
                    dimensions_map={"DBInstanceIdentifier": self.replica.instance_identifier},
                    period=cdk.Duration.minutes(1),
                    statistic="Maximum",
                ).create_alarm(
                    self,
                    "ReplicaLag",
                    threshold=30,
                    evaluation_periods=5,
                    alarm_description="Read replica over 30 s behind; see WardbookReplicaLagHigh",
                )
            )
        for alarm in alarms:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
