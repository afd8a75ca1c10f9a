// Inputs of the hosted-runner image. Credentials come from the pipeline's environment; without
// them Packer falls back to interactive sign-in, which is enough for validate.

variable "client_id" {
  type    = string
  default = env("ARM_CLIENT_ID")
}

variable "client_secret" {
  type      = string
  sensitive = true
  default   = env("ARM_CLIENT_SECRET")
}

variable "subscription_id" {
  type    = string
  default = "00000000-0000-0000-0000-000000000000"
}

variable "tenant_id" {
  type    = string
  default = "00000000-0000-0000-0000-000000000000"
}

variable "location" {
  type    = string
  default = "eastus2"
}

variable "image_os" {
  type    = string
  default = "ubuntu22"
}

variable "image_version" {
  type    = string
  default = "dev"
}

variable "managed_image_name" {
  type    = string
  default = "runner-ubuntu"
}

variable "managed_image_resource_group_name" {
  type    = string
  default = "rg-runner-images"
}

variable "helper_script_folder" {
  type    = string
  default = "/imagegeneration/helpers"
}

variable "installer_script_folder" {
  type    = string
  default = "/imagegeneration/installers"
}

variable "image_folder" {
  type    = string
  default = "/imagegeneration"
}
