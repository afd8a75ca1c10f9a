#!/bin/bash -e
os_version() {
    lsb_release -rs
}
