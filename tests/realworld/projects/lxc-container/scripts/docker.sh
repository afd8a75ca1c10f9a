#!/bin/sh -eux
apt-get install -y docker.io
systemctl enable docker
