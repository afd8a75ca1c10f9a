os_name            = "ubuntu"
os_version         = "24.04"
os_arch            = "x86_64"
iso_url            = "https://releases.ubuntu.com/noble/ubuntu-24.04.1-live-server-amd64.iso"
iso_checksum       = "sha256:e240e4b801f7bb68c20d1356b60968ad0c33a41d00d828e74ceb3364a0317be9"
vbox_guest_os_type = "Ubuntu_64"
boot_command       = ["<wait>e<wait><down><down><down><end> autoinstall ds=nocloud-net\\;s=http://{{.HTTPIP}}:{{.HTTPPort}}/ubuntu/<wait><f10><wait>"]
