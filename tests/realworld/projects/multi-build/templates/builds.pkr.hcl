# Three build blocks over the same two sources: an unnamed one, a named one, and a named one that
# fills in the sources under new names (`packer build -only=app.file.app-rootfs templates`).

build {
  sources = ["source.null.smoke"]

  provisioner "shell-local" {
    inline = ["echo smoke ${var.release}"]
  }
}

build {
  name    = "base"
  sources = ["source.file.rootfs"]

  provisioner "shell-local" {
    scripts = ["${path.root}/../scripts/base.sh"]
  }

  post-processor "manifest" {
    output = "output/base-manifest.json"
  }
}

build {
  name = "app"

  source "source.file.rootfs" {
    name = "app-rootfs"
  }

  source "source.null.smoke" {
    name = "app-smoke"
  }

  provisioner "shell-local" {
    scripts = ["${path.root}/../scripts/base.sh", "${path.root}/../scripts/app.sh"]
  }

  post-processor "checksum" {
    checksum_types = ["sha256"]
    output         = "output/app-${var.release}.{{.ChecksumType}}"
  }
}
