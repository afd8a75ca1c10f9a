locals {
  common_scripts = [
    "${path.root}/scripts/_common/motd.sh",
    "${path.root}/scripts/_common/sshd.sh",
    "${path.root}/scripts/_common/vagrant.sh",
  ]
  # The OS-specific list is chosen by os_name unless the var file names its own scripts.
  os_scripts = var.scripts == null ? (
    var.os_name == "ubuntu" || var.os_name == "debian" ? [
      "${path.root}/scripts/${var.os_name}/sudoers_${var.os_name}.sh",
      "${path.root}/scripts/${var.os_name}/cleanup_${var.os_name}.sh",
    ] : []
  ) : var.scripts
  vagrantfile_template = var.is_windows ? "${path.root}/vagrantfile-windows.template" : "${path.root}/vagrantfile-linux.template"
  execute_command      = "echo 'vagrant' | {{ .Vars }} sudo -S -E sh -eux '{{ .Path }}'"
}

build {
  sources = ["source.qemu.vm", "source.virtualbox-iso.vm"]

  provisioner "shell" {
    environment_vars  = ["HOME_DIR=/home/vagrant"]
    execute_command   = local.execute_command
    expect_disconnect = true
    scripts           = ["${path.root}/scripts/_common/update_packages.sh"]
  }

  provisioner "shell" {
    environment_vars = ["HOME_DIR=/home/vagrant"]
    execute_command  = local.execute_command
    scripts          = concat(local.common_scripts, local.os_scripts, ["${path.root}/scripts/_common/minimize.sh"])
  }

  post-processor "vagrant" {
    compression_level    = 9
    output               = "${path.root}/../builds/${var.os_name}-${var.os_version}-${var.os_arch}.{{ .Provider }}.box"
    vagrantfile_template = local.vagrantfile_template
  }
}
