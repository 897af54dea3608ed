#!/usr/bin/env bash
# The one test command: installs into .venv if needed, then runs the whole suite.
# Uses the PostgreSQL and MQTT broker named by CC_TEST_DATABASE_URL / CC_TEST_MQTT_URL
# (defaults 127.0.0.1:5432 db "test" and 127.0.0.1:1883); starts embedded ones when those
# are unreachable. The dashboard's browser tests need Debian's chromium: installed here when
# running as root with apt-get, otherwise those tests skip with the reason.
source "$(dirname "$0")/_venv.sh"
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will skip"
fi
exec python -m pytest "$@"
