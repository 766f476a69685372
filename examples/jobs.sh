#!/usr/bin/env bash
# The example jobs, registered through the CLI. `make run` loads them into a fresh daemon and
# the end-to-end tests load them too, so they never rot. Jobs that already exist are left alone.
set -euo pipefail
arbiter=${ARBITER:-arbiter}

add() {
  local name=$1
  shift
  if "$arbiter" show "$name" >/dev/null 2>&1; then
    echo "job $name exists; leaving it alone"
  else
    "$arbiter" add --name "$name" "$@"
  fi
}

# Every 10 seconds (a 6-field expression: the first field is seconds).
add heartbeat --cron '*/10 * * * * *' -- date -u +%Y-%m-%dT%H:%M:%SZ

# Every five minutes, a shell pipeline with a time limit.
add disk-usage --cron '*/5 * * * *' --timeout 1m --shell 'df -h / | tail -n 1'

# Weekdays at 07:30 in Berlin, whatever the server's zone, with its own environment.
add morning-report --cron '30 7 * * MON-FRI' --tz Europe/Berlin --env REPORT=daily \
  --shell 'echo "$REPORT report for the fire at $ARBITER_SCHEDULED_AT"'
