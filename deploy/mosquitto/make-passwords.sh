#!/usr/bin/env bash
# Create (or update) the secrets of a compose deployment:
#
#   <out>/credentials.csv      username,password of every MQTT account (mode 600; hand each
#                              gateway's line to whoever installs that gateway)
#   <out>/passwd               Mosquitto's password file of the gateways' listener (1883):
#                              gateways, healthcheck, simulator (hashed by mosquitto_passwd -U)
#   <out>/passwd-service       that of the service's listener (1884): "controlcenter" alone
#   <out>/controlcenter.env    CC_MQTT__USERNAME, CC_MQTT__PASSWORD, CC_DATABASE_URL
#   <out>/timescaledb.env      POSTGRES_PASSWORD of the database
#   <out>/mosquitto.env        MQTT_HEALTHCHECK_PASSWORD (the broker's healthcheck)
#   <out>/simulator.env        SIM_MQTT_PASSWORD (only with -s)
#
# Accounts: "controlcenter" (the service), "healthcheck", "simulator" (with -s), and one
# per line "<site>/<factory>" of GATEWAYS_FILE (blank lines and # comments are skipped).
# Re-running keeps every existing password and adds the new accounts; remove a line from
# credentials.csv (or the whole directory) to rotate.
#
# Usage: deploy/mosquitto/make-passwords.sh [-s] [-o OUT_DIR] GATEWAYS_FILE
#   -s          also create the "simulator" account (compose profile "sim"; never on a
#               broker that real gateways use: it may publish for every factory)
#   -o OUT_DIR  default: deploy/secrets next to this script's directory
#
# Needs mosquitto_passwd (package mosquitto / mosquitto-clients), or docker to run it
# from the eclipse-mosquitto:2 image.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${here}/../secrets"
sim=0
while getopts "so:h" opt; do
    case "$opt" in
        s) sim=1 ;;
        o) out="$OPTARG" ;;
        *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ "$#" -ne 1 ]; then
    echo "usage: $0 [-s] [-o OUT_DIR] GATEWAYS_FILE" >&2
    exit 2
fi
gateways="$1"
[ -r "$gateways" ] || { echo "cannot read $gateways" >&2; exit 2; }

umask 077
mkdir -p "$out"
creds="$out/credentials.csv"
touch "$creds"

new_password() {
    # 32 hex characters: safe in URLs, env files and shells.
    od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

declare -A pw=()
while IFS=, read -r user pass; do
    [ -n "$user" ] && pw["$user"]="$pass"
done < "$creds"

ensure() {
    local user="$1"
    if [ -z "${pw[$user]:-}" ]; then
        pw["$user"]="$(new_password)"
        printf '%s,%s\n' "$user" "${pw[$user]}" >> "$creds"
    fi
}

code='[A-Za-z0-9_.-]{1,64}'
ensure controlcenter
ensure healthcheck
[ "$sim" = 1 ] && ensure simulator
n=0
while IFS= read -r line || [ -n "$line" ]; do
    line="${line%%#*}"
    line="$(printf '%s' "$line" | tr -d '[:space:]')"
    [ -z "$line" ] && continue
    if ! [[ "$line" =~ ^${code}/${code}$ ]]; then
        echo "$gateways: not <site>/<factory>: $line" >&2
        exit 1
    fi
    if [ "${line%%/*}" = "alerts" ]; then
        echo "$gateways: site code 'alerts' is reserved: $line" >&2
        exit 1
    fi
    ensure "$line"
    n=$((n + 1))
done < "$gateways"

# Mosquitto's password files: written in plain text, then hashed in place. The service's
# account goes only into passwd-service, every other one only into passwd: each listener
# knows its own accounts (see mosquitto.conf: client ids are bound differently on each).
hash_in_place() {
    if command -v mosquitto_passwd > /dev/null; then
        mosquitto_passwd -U "$1"
    elif command -v docker > /dev/null; then
        docker run --rm -v "$(cd "$(dirname "$1")" && pwd):/work" eclipse-mosquitto:2 \
            mosquitto_passwd -U "/work/$(basename "$1")"
    else
        echo "need mosquitto_passwd or docker" >&2
        exit 1
    fi
}

tmp_gw="$(mktemp "$out/.passwd.XXXXXX")"
tmp_svc="$(mktemp "$out/.passwd-service.XXXXXX")"
trap 'rm -f "$tmp_gw" "$tmp_svc"' EXIT
while IFS=, read -r user pass; do
    [ -n "$user" ] || continue
    case "$user" in
        controlcenter) printf '%s:%s\n' "$user" "$pass" >> "$tmp_svc" ;;
        simulator)
            if [ "$sim" = 1 ]; then
                printf '%s:%s\n' "$user" "$pass" >> "$tmp_gw"
            fi
            ;;
        *) printf '%s:%s\n' "$user" "$pass" >> "$tmp_gw" ;;
    esac
done < "$creds"
hash_in_place "$tmp_gw"
hash_in_place "$tmp_svc"
# The broker runs as its own user: the files hold salted hashes only.
chmod 644 "$tmp_gw" "$tmp_svc"
mv "$tmp_gw" "$out/passwd"
mv "$tmp_svc" "$out/passwd-service"
trap - EXIT

dbpw=""
if [ -f "$out/timescaledb.env" ]; then
    dbpw="$(sed -n 's/^POSTGRES_PASSWORD=//p' "$out/timescaledb.env")"
fi
[ -n "$dbpw" ] || dbpw="$(new_password)"
printf 'POSTGRES_PASSWORD=%s\n' "$dbpw" > "$out/timescaledb.env"
{
    printf 'CC_MQTT__USERNAME=controlcenter\n'
    printf 'CC_MQTT__PASSWORD=%s\n' "${pw[controlcenter]}"
    printf 'CC_DATABASE_URL=postgresql://controlcenter:%s@timescaledb:5432/controlcenter\n' "$dbpw"
} > "$out/controlcenter.env"
printf 'MQTT_HEALTHCHECK_PASSWORD=%s\n' "${pw[healthcheck]}" > "$out/mosquitto.env"
if [ "$sim" = 1 ]; then
    printf 'SIM_MQTT_PASSWORD=%s\n' "${pw[simulator]}" > "$out/simulator.env"
else
    # compose requires the file to exist; the sim profile then cannot log in.
    : > "$out/simulator.env"
fi
echo "$n gateway account(s); secrets in $out" >&2
