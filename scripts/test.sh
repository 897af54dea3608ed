#!/usr/bin/env bash
# The one test command: installs into .venv if needed, then runs the whole suite.
# Uses the PostgreSQL and MQTT broker named by CC_TEST_DATABASE_URL / CC_TEST_MQTT_URL
# (defaults 127.0.0.1:5432 db "test" and 127.0.0.1:1883); starts embedded ones when those
# are unreachable. The dashboard's browser tests need Debian's chromium: installed here when
# running as root with apt-get, otherwise those tests skip with the reason; so does
# poppler-utils (pdftoppm), with which the report tests render a PDF's pages.
source "$(dirname "$0")/_venv.sh"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null) \
        || echo "${missing[*]} not installed: the tests that need them will skip"
fi
exec python -m pytest "$@"
