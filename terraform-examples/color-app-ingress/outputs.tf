output "mesh_arn" {
  value = meshplane_mesh.color_app.arn
}

output "gateway_routes" {
  description = "Path prefix on the gateway => virtual service it leads to."
  value       = { for r in meshplane_gateway_route.color : one(one(one(r.spec).http_route).match).prefix => one(one(one(one(one(r.spec).http_route).action).target).virtual_service).virtual_service_name }
}

output "envoy_node_ids" {
  description = "Node ids for `meshplane envoy-bootstrap --node-id` (same as APPMESH_RESOURCE_ARN on App Mesh)."
  value = merge(
    { for color, node in meshplane_virtual_node.colorteller : node.name => "mesh/${var.mesh_name}/virtualNode/${node.name}" },
    { (meshplane_virtual_gateway.color_gateway.name) = "mesh/${var.mesh_name}/virtualGateway/${meshplane_virtual_gateway.color_gateway.name}" },
  )
}
