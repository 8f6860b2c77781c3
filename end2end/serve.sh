#!/usr/bin/env bash
# Starts the release server for the end-to-end tests on a fresh database with known accounts.
# Playwright runs this and stops it (by its process id) when the tests end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./target/release/recharge
DIR=$(mktemp -d)
export RECHARGE_DATABASE_URL="sqlite://$DIR/e2e.db"
export LEPTOS_SITE_ROOT=target/site
export RUST_LOG=${RUST_LOG:-warn}
$BIN gerance add "Gérance test" >/dev/null
$BIN user add --email admin@gerance-test.ch --role admin --gerance "Gérance test" <<<"e2e admin password" >/dev/null
$BIN user add --email operator@recharge.ch --role operator <<<"e2e operator password" >/dev/null
$BIN station add --gerance "Gérance test" --name "Station Hérémence" --place Hérémence --phone "+41 79 000 01 01" >/dev/null
$BIN gerance add "Gérance voisine" >/dev/null
$BIN user add --email admin@voisine.ch --role admin --gerance "Gérance voisine" <<<"e2e other admin password" >/dev/null
$BIN station add --gerance "Gérance voisine" --name "Station Sion" --place Sion --phone "+41 79 000 01 02" >/dev/null
# No modem: the GSM network emulator with both stations simulated.
# Alerts quickly: a station silent for a minute is asked for its state, and reported a minute later.
exec $BIN serve --addr 127.0.0.1:${E2E_PORT:-3100} --no-demo --demo-dir "$DIR/demo" --retry-after 3s \
  --alert-station-silent 1m --alert-status-grace 1m --alert-check-every 5s
