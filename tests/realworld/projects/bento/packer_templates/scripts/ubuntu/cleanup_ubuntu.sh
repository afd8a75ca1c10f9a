#!/bin/sh -eux
# cleanup step for ubuntu
echo "cleanup_ubuntu"
