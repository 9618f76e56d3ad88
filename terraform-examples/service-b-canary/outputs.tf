output "mesh_arn" {
  value = meshplane_mesh.apps.arn
}

output "serviceb_weights" {
  description = "Node => weight of the serviceB route, as applied."
  value       = { for t in one(one(one(meshplane_route.service_b.spec).http_route).action).weighted_target : t.virtual_node => t.weight }
}

output "envoy_node_ids" {
  description = "APPMESH_RESOURCE_ARN / `meshplane envoy-bootstrap --node-id` for each node."
  value = {
    for name in ["serviceA", "serviceB", "serviceBv2"] : name => "mesh/${meshplane_mesh.apps.name}/virtualNode/${name}"
  }
}
