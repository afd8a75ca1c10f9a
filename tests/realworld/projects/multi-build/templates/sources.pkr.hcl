variable "release" {
  type    = string
  default = "2024.10"
}

source "file" "rootfs" {
  source = "${path.root}/../files/rootfs.txt"
  target = "output/rootfs-${var.release}.img"
}

source "null" "smoke" {
  communicator = "none"
}
