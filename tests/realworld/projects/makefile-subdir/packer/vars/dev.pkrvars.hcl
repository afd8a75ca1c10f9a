ami_name      = "dev-python-node"
extra_volumes = { "/dev/sdf" = 50 }
