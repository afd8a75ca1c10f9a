#!/bin/sh -eux
# sudoers step for ubuntu
echo "sudoers_ubuntu"
