#!/usr/bin/env bash
# Runs the demo from a fresh clone: creates .venv, installs, starts embedded PostgreSQL and
# MQTT when none is configured, migrates, ingests a synthetic stream. Ctrl-C stops it.
source "$(dirname "$0")/_venv.sh"
exec controlcenter demo "$@"
