"""The spec-driven Terraform provider ``meshplane/meshplane`` (tfplugin6 over the ``tf`` package's transport).

openapi.json + terraform.json (copies of provider-spec/, refreshed by ``make spec``) describe every
resource; the code here is generic. Modules: ``spec`` (load the two files), ``schema`` (Terraform
schema tree from OpenAPI), ``values`` (HCL <-> wire values), ``validation`` (plan-time checks),
``client`` (HTTP), ``resources`` (CRUD, plan, import), ``servicer`` (gRPC), ``runner`` (handshake),
``mirror`` and ``cli`` (installation for users).
"""
