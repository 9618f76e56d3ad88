variable "mesh_name" {
  description = "Name of the mesh; the virtual services are servicea.<mesh>.local and serviceb.<mesh>.local."
  type        = string
  default     = "apps"
}

variable "node_hostname" {
  description = "Where every node's app is found (DNS service discovery). Loopback by default."
  type        = string
  default     = "127.0.0.1"
}

variable "node_ports" {
  description = "Port each node's app listens on (on one host they must differ)."
  type        = map(number)
  default = {
    serviceA   = 9081
    serviceB   = 9082
    serviceBv2 = 9083
  }
}

variable "service_port" {
  description = "Port of serviceb.<mesh>.local (its router's listener)."
  type        = number
  default     = 9080
}

variable "canary_weight" {
  description = "Percentage of serviceb traffic sent to serviceBv2; serviceB gets the rest."
  type        = number
  default     = 25

  validation {
    condition     = var.canary_weight >= 0 && var.canary_weight <= 100 && floor(var.canary_weight) == var.canary_weight
    error_message = "canary_weight is a whole number from 0 to 100."
  }
}
