#!/bin/bash -eux
# network for the rhel family of generic boxes
echo 'rhel network'
