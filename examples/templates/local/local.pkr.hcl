# Local stand-ins that really build on any machine: a "file" image (labelled azure in hybridcore.toml,
# standing in for the azure-arm build that needs a subscription) and a "null" smoke build.
variable "image_name" {
  type    = string
  default = "golden-base"
}

variable "region" {
  type    = string
  default = "local"
}

variable "hybridcore_provisioners" {
  type    = list(string)
  default = []
}

source "file" "image" {
  content = "golden image ${var.image_name} for ${var.region}\n"
  target  = "${path.root}/output/${var.image_name}.img"
}

source "null" "smoke" {
  communicator = "none"
}

build {
  sources = ["source.file.image", "source.null.smoke"]

  provisioner "shell-local" {
    scripts = var.hybridcore_provisioners
  }

  provisioner "shell-local" {
    script = "${path.root}/../../scripts/harden.sh"
  }
}
