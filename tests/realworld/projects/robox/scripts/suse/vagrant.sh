#!/bin/bash -eux
# vagrant for the suse family of generic boxes
echo 'suse vagrant'
