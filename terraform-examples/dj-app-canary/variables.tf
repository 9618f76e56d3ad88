variable "mesh_name" {
  description = "Name of the mesh."
  type        = string
  default     = "dj-app"
}

variable "namespace" {
  description = "Kubernetes namespace in the virtual service names (<genre>.<namespace>.svc.cluster.local)."
  type        = string
  default     = "prod"
}

variable "node_hostname" {
  description = "Where every node's app is found (DNS service discovery). Loopback by default; on Kubernetes use the service's DNS name."
  type        = string
  default     = "127.0.0.1"
}

variable "node_ports" {
  description = "Port each node's app listens on. The walkthrough uses 9080 for all; on one host they must differ."
  type        = map(number)
  default = {
    "dj"       = 9081
    "jazz-v1"  = 9082
    "jazz-v2"  = 9083
    "metal-v1" = 9084
    "metal-v2" = 9085
  }
}

variable "service_port" {
  description = "Port of the jazz and metal virtual services (their routers' listener)."
  type        = number
  default     = 9080
}

variable "gateway_port" {
  description = "Port the dj-gateway Envoy listens on."
  type        = number
  default     = 9080
}

variable "jazz_weights" {
  description = "Relative weights of jazz-v1 and jazz-v2 (step 1: 100/0, canary: 90/10)."
  type        = object({ v1 = number, v2 = number })
  default     = { v1 = 100, v2 = 0 }

  validation {
    condition     = var.jazz_weights.v1 >= 0 && var.jazz_weights.v2 >= 0 && var.jazz_weights.v1 <= 100 && var.jazz_weights.v2 <= 100 && var.jazz_weights.v1 + var.jazz_weights.v2 > 0
    error_message = "Each weight is 0..100 and at least one is positive."
  }
}

variable "metal_weights" {
  description = "Relative weights of metal-v1 and metal-v2 (step 1: 100/0, canary: 50/50)."
  type        = object({ v1 = number, v2 = number })
  default     = { v1 = 100, v2 = 0 }

  validation {
    condition     = var.metal_weights.v1 >= 0 && var.metal_weights.v2 >= 0 && var.metal_weights.v1 <= 100 && var.metal_weights.v2 <= 100 && var.metal_weights.v1 + var.metal_weights.v2 > 0
    error_message = "Each weight is 0..100 and at least one is positive."
  }
}
