#!/usr/bin/env bash
# Installs python-openstackclient from PyPI into .venv-openstack (idempotent) and
# prints the path of its `openstack` command. Used by the compatibility test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=.venv-openstack
if [ ! -x "$venv/bin/openstack" ]; then
    echo "openstack-venv: installing python-openstackclient into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check python-openstackclient >&2
fi
echo "$PWD/$venv/bin/openstack"
