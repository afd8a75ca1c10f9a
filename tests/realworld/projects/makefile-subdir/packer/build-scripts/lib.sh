#!/usr/bin/env bash
log() { printf '[build] %s\n' "$*"; }
