#!/bin/sh
# Placeholder replaced by the TLS work.
mkdir -p "$1"
