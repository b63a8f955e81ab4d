#!/usr/bin/env bash
# Removes every container, network and volume labelled io.sandbox.managed=true,
# e.g. after a crashed test run. With --images it also removes the images the
# sandbox built (io.sandbox.image=true), including the local Postgres image.
set -euo pipefail

# SANDBOX_CLEANUP_LABEL narrows the sweep (used to test this script on a shared engine).
label=${SANDBOX_CLEANUP_LABEL:-io.sandbox.managed=true}

# sweep KIND LIST-COMMAND... -- REMOVE-COMMAND...
sweep() {
	local kind=$1
	shift
	local list=() rm=()
	while [[ $1 != -- ]]; do
		list+=("$1")
		shift
	done
	shift
	rm=("$@")
	local ids
	mapfile -t ids < <("${list[@]}" | sort -u)
	if ((${#ids[@]} > 0)); then
		echo "removing ${kind}: ${ids[*]}"
		"${rm[@]}" "${ids[@]}" >/dev/null
	fi
}

# Containers first: networks and volumes in use can't be removed.
# -v: their anonymous volumes (e.g. Postgres data) go with them.
sweep containers docker ps -aq --filter "label=$label" -- docker rm -f -v
sweep networks docker network ls -q --filter "label=$label" -- docker network rm
sweep volumes docker volume ls -q --filter "label=$label" -- docker volume rm -f
if [[ ${1:-} == --images ]]; then
	sweep images docker images -q --filter "label=io.sandbox.image=true" -- docker rmi -f
fi
echo "done"
