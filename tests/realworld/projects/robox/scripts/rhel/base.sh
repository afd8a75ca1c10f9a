#!/bin/bash -eux
# base for the rhel family of generic boxes
echo 'rhel base'
