#!/usr/bin/env bash
# Collects logs for support cases.
tar czf /tmp/eks-logs.tgz /var/log
