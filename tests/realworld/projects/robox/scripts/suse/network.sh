#!/bin/bash -eux
# network for the suse family of generic boxes
echo 'suse network'
