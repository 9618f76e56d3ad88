"""meshplane: an App Mesh-compatible control plane for Envoy, managed with Terraform.

Nothing heavy is imported here: the Terraform provider and the CLI start this package often.
"""

__version__ = "0.1.0"
