# The Azure golden image. Validated here (no cloud on this machine); built in a pipeline that has a
# service principal. The secret arrives as PKR_VAR_client_secret (hybridcore passes it that way).
variable "client_id" {
  type    = string
  default = "00000000-0000-0000-0000-000000000000"
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
  default = "westeurope"
}

variable "image_name" {
  type    = string
  default = "golden-base"
}

variable "hybridcore_provisioners" {
  type    = list(string)
  default = []
}

source "azure-arm" "base" {
  client_id                         = var.client_id
  client_secret                     = var.client_secret
  subscription_id                   = var.subscription_id
  tenant_id                         = var.tenant_id
  location                          = var.location
  managed_image_name                = var.image_name
  managed_image_resource_group_name = "rg-golden-images"
  os_type                           = "Linux"
  image_publisher                   = "Canonical"
  image_offer                       = "0001-com-ubuntu-server-jammy"
  image_sku                         = "22_04-lts"
  vm_size                           = "Standard_B2s"
  communicator                      = "ssh"
  ssh_username                      = "packer"
}

build {
  sources = ["source.azure-arm.base"]

  provisioner "shell" {
    scripts = var.hybridcore_provisioners
  }

  provisioner "shell" {
    script = "${path.root}/../../scripts/harden.sh"
  }
}
