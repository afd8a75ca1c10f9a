#!/bin/sh -eux
# cleanup step for debian
echo "cleanup_debian"
