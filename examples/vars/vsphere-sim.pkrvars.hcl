# The local vCenter simulator as started by scripts/vcsim.sh (fixed port 8989).
# The password is not here: export VSPHERE_PASSWORD=pass (the simulator's) or
# PKR_VAR_vcenter_password, so no var file ever holds a secret.
vcenter_server   = "127.0.0.1:8989"
vcenter_username = "user"
datacenter       = "DC0"
cluster          = "DC0_C0"
datastore        = "LocalDS_0"
network          = "VM Network"
vm_name          = "hybridcore-demo"
