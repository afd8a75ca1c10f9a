#!/bin/bash
# First boot of the build instance: nothing but a marker for the provisioners.
touch /var/tmp/packer-build
