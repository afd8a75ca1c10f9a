locals {
  # Every environments/<name>/ folder with a smoke test joins the image; adding one needs no edit here.
  # (Packer 1.6.6 evaluates fileset() from the template's folder, so this works when run as `packer build .`.)
  smoke_scripts = [for p in sort(fileset(path.root, "environments/*/smoke-tests.sh")) : "${path.root}/${p}"]
  environments  = [for p in local.smoke_scripts : basename(dirname(p))]
}

source "amazon-ebs" "this" {
  region                     = var.aws_region
  instance_type              = "t3.large"
  source_ami                 = "ami-0abcdef1234567890"
  ssh_username               = "ubuntu"
  ami_name                   = "${var.ami_name}-{{timestamp}}"
  user_data                  = file("files/user-data.sh")
  skip_credential_validation = true
  skip_region_validation     = true

  launch_block_device_mappings {
    device_name           = "/dev/sda1"
    volume_size           = var.volume_size
    volume_type           = "gp2"
    delete_on_termination = true
  }

  dynamic "launch_block_device_mappings" {
    for_each = var.extra_volumes
    content {
      device_name           = launch_block_device_mappings.key
      volume_size           = launch_block_device_mappings.value
      volume_type           = "gp2"
      delete_on_termination = true
    }
  }

  tags = {
    environments = join(",", local.environments)
  }
}

source "null" "smoke" {
  communicator = "none"
}

build {
  sources = ["source.amazon-ebs.this", "source.null.smoke"]

  provisioner "file" {
    only        = ["amazon-ebs.this"]
    source      = "build-scripts/lib.sh"
    destination = "/tmp/lib.sh"
  }

  provisioner "shell" {
    only   = ["amazon-ebs.this"]
    script = "build-scripts/install.sh"
  }

  provisioner "file" {
    only        = ["amazon-ebs.this"]
    source      = "environments"
    destination = "/tmp"
  }

  provisioner "shell-local" {
    only    = ["null.smoke"]
    scripts = local.smoke_scripts
  }
}
