// Single-file generation of the hosted-runner image (the layout before templates/ split it up).

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
  default = env("ARM_SUBSCRIPTION_ID")
}

variable "tenant_id" {
  type    = string
  default = env("ARM_TENANT_ID")
}

variable "location" {
  type    = string
  default = "East US 2"
}

variable "resource_group" {
  type    = string
  default = "rg-image-generation"
}

variable "vm_size" {
  type    = string
  default = "Standard_D4s_v4"
}

variable "image_version" {
  type    = string
  default = "dev"
}

variable "azure_tags" {
  type    = map(string)
  default = {}
}

variable "helper_script_folder" {
  type    = string
  default = "/imagegeneration/helpers"
}

source "azure-arm" "build_image" {
  client_id       = var.client_id
  client_secret   = var.client_secret
  subscription_id = var.subscription_id
  tenant_id       = var.tenant_id

  location                          = var.location
  vm_size                           = var.vm_size
  os_type                           = "Linux"
  os_disk_size_gb                   = 86
  image_publisher                   = "canonical"
  image_offer                       = "0001-com-ubuntu-server-jammy"
  image_sku                         = "22_04-lts"
  managed_image_name                = "ubuntu2204-${var.image_version}"
  managed_image_resource_group_name = var.resource_group
  custom_data_file                  = "${path.root}/cloud-init/runner.yml"

  dynamic "azure_tag" {
    for_each = var.azure_tags
    content {
      name  = azure_tag.key
      value = azure_tag.value
    }
  }
}

build {
  sources = ["source.azure-arm.build_image"]

  provisioner "file" {
    source      = "${path.root}/scripts/helpers"
    destination = var.helper_script_folder
  }

  provisioner "shell" {
    execute_command = "sudo sh -c '{{ .Vars }} {{ .Path }}'"
    script          = "${path.root}/scripts/base/apt.sh"
  }

  provisioner "shell" {
    environment_vars = ["HELPER_SCRIPTS=${var.helper_script_folder}", "IMAGE_VERSION=${var.image_version}"]
    execute_command  = "sudo sh -c '{{ .Vars }} {{ .Path }}'"
    scripts = [
      "${path.root}/scripts/installers/preimagedata.sh",
      "${path.root}/scripts/installers/docker.sh",
    ]
  }

  provisioner "file" {
    source      = "${path.root}/toolsets/toolset-2204.json"
    destination = "/imagegeneration/installers/toolset.json"
  }
}
