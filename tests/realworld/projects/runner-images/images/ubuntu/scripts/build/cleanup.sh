#!/bin/bash -e
apt-get clean
rm -rf /tmp/* /var/lib/apt/lists/*
journalctl --rotate && journalctl --vacuum-time=1s
