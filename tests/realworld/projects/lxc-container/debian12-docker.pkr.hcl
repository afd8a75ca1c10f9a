# A Debian 12 container template with Docker, built by the lxc builder from the download template.

variable "container_name" {
  type    = string
  default = "debian12-docker"
}

variable "output_dir" {
  type    = string
  default = "./output"
}

source "lxc" "debian12-docker" {
  config_file   = "./files/default.conf"
  template_name = "download"
  template_parameters = [
    "--dist=debian",
    "--release=bookworm",
    "--arch=amd64",
  ]
  container_name   = var.container_name
  output_directory = "${var.output_dir}/${var.container_name}"
  target_runlevel  = 3
}

build {
  sources = ["source.lxc.debian12-docker"]

  provisioner "shell" {
    scripts = [
      "./scripts/base.sh",
      "./scripts/docker.sh",
    ]
  }

  provisioner "file" {
    source      = "./files/daemon.json"
    destination = "/etc/docker/daemon.json"
  }
}
