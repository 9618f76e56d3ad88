"""The spec-driven Terraform provider ``meshplane/meshplane`` (tfplugin6 over the ``tf`` package's stubs).

openapi.json + terraform.json (provider-spec/, see its README) describe every resource; the code
here is generic. Modules: ``spec`` (find and load the two files), ``schema`` (the Terraform schema
tree from OpenAPI), ``values`` (HCL <-> wire values, clean-plan equivalence), ``validation``
(plan-time checks), ``diagnostics`` (errors on HCL paths), ``client`` (HTTP, TLS and SigV4
signing; ``meshplane proxy-status`` uses it too), ``resources`` (CRUD, plan, import, data
sources), ``servicer`` (the gRPC service), ``cert`` and ``runner`` (the go-plugin handshake),
``mirror`` and ``cli`` (installation for users). Nothing heavy is imported here.
"""
