output "mesh_arn" {
  value = meshplane_mesh.bookinfo.arn
}

output "virtual_services" {
  value = sort([for s in meshplane_virtual_service.bookinfo : s.name])
}

output "reviews_weights" {
  description = "Node => weight of the reviews route, as applied."
  value       = { for t in one(one(one(meshplane_route.bookinfo["reviews"].spec).http_route).action).weighted_target : t.virtual_node => t.weight }
}

output "envoy_node_ids" {
  description = "Node ids for `meshplane envoy-bootstrap --node-id` (same as APPMESH_RESOURCE_ARN on App Mesh)."
  value       = { for name, node in meshplane_virtual_node.bookinfo : name => "mesh/${var.mesh_name}/virtualNode/${name}" }
}
