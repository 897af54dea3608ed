#!/usr/bin/env bash
# The one test command: installs into .venv if needed, then runs the whole suite.
# Uses the PostgreSQL and MQTT broker named by CC_TEST_DATABASE_URL / CC_TEST_MQTT_URL
# (defaults 127.0.0.1:5432 db "test" and 127.0.0.1:1883); starts embedded ones when those
# are unreachable.
source "$(dirname "$0")/_venv.sh"
exec python -m pytest "$@"
