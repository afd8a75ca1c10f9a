#!/bin/bash
# Runs on the first boot of a runner: drop the logs the image build left behind.
find /var/log -type f -name '*.gz' -delete
