"""Cloud Map on moto's server for tests: a namespace, a service, and instances, through boto3."""

from __future__ import annotations

from typing import Any

#: Environment for processes (meshplane) that must reach moto's Cloud Map: the standard AWS
#: variables, with fake credentials (moto accepts any).
def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_SERVICEDISCOVERY": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def servicediscovery(endpoint: str) -> Any:
    """A boto3 client for moto (no ``data-`` host prefix: moto listens on 127.0.0.1)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client("servicediscovery", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=BotoConfig(inject_host_prefix=False, retries={"total_max_attempts": 1}))


class CloudMap:
    """One HTTP namespace with services on moto, and registering instances in them."""

    def __init__(self, endpoint: str, namespace: str) -> None:
        self.client = servicediscovery(endpoint)
        self.namespace = namespace
        self.client.create_http_namespace(Name=namespace)
        self.namespace_id = next(ns["Id"] for ns in self.client.list_namespaces()["Namespaces"]
                                 if ns["Name"] == namespace)
        self.services: dict[str, str] = {}

    def service(self, name: str) -> str:
        """Create service ``name`` (custom health checks, so instances can be marked UNHEALTHY)."""
        created = self.client.create_service(Name=name, NamespaceId=self.namespace_id,
                                             HealthCheckCustomConfig={"FailureThreshold": 1})
        self.services[name] = created["Service"]["Id"]
        return self.services[name]

    def register(self, service: str, instance_id: str, ipv4: str | None = None, ipv6: str | None = None,
                 **attributes: str) -> None:
        attrs = dict(attributes)
        if ipv4:
            attrs["AWS_INSTANCE_IPV4"] = ipv4
        if ipv6:
            attrs["AWS_INSTANCE_IPV6"] = ipv6
        self.client.register_instance(ServiceId=self.services[service], InstanceId=instance_id, Attributes=attrs)

    def deregister(self, service: str, instance_id: str) -> None:
        self.client.deregister_instance(ServiceId=self.services[service], InstanceId=instance_id)

    def set_health(self, service: str, instance_id: str, status: str) -> None:
        self.client.update_instance_custom_health_status(ServiceId=self.services[service], InstanceId=instance_id,
                                                         Status=status)
