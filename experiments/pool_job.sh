#!/usr/bin/env bash
# One job of an experiment pool (xargs -P): runs the command, keeps its output in <log dir>/<hash>.log and
# reports at once whether it finished, so a failing job is seen while the others go on.
# Usage: bash experiments/pool_job.sh <log dir> <command ...>
set -uo pipefail
logs=$1; shift
mkdir -p "$logs"; log="$logs/$(echo "$*" | md5sum | cut -c1-8).log"
if bash -c "$*" > "$log" 2>&1; then echo "done ($(date +%H:%M)): $*"
else echo "FAILED ($(date +%H:%M), see $log): $*"; exit 1; fi
