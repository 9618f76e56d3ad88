"""AWS clients for the tests (a plain module: test modules must not import a conftest, there are several)."""

from __future__ import annotations

from typing import Any


def make_client(endpoint: str, **credentials: Any):  # type: ignore[no-untyped-def]
    """A boto3 App Mesh client for ``endpoint`` (it parses with AWS's own model), one attempt per call.

    ``credentials`` override the placeholder key (``aws_access_key_id``, ``aws_secret_access_key``).
    """
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "appmesh",
        endpoint_url=endpoint,
        region_name="us-east-1",
        **({"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret"} | credentials),
        config=BotoConfig(retries={"max_attempts": 1}),
    )
