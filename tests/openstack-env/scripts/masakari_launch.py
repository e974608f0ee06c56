#!/usr/bin/python3
"""Starts Debian 12's masakari-api or masakari-engine with one fix applied in the process.

  masakari_launch.py api|engine --config-file /etc/masakari/masakari.conf

Debian 12's masakari 14.0.2 together with its oslo.messaging security update passes
read_deleted=None through the notifier into RequestContext, which then fails segment and host
calls with HTTP 500 (fixed upstream in masakari commit 636df88). The fix maps None to the
default ("no"). Nothing under /usr is changed: this wrapper sets the property and then runs the
packaged entry point (masakari.cmd.api.main / masakari.cmd.engine.main) unchanged.
"""
import os
import sys

# Eventlet monkey-patching (masakari.cmd) must come before anything imports threading.
import masakari.cmd  # noqa: F401

# The fix itself is tests/masakari-env's, which starts the same Masakari.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "../../masakari-env/scripts"))
from masakari_env import tolerate_read_deleted_none  # noqa: E402


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("api", "engine"):
        raise SystemExit(__doc__)
    which = sys.argv.pop(1)
    tolerate_read_deleted_none()
    if which == "api":
        from masakari.cmd import api
        sys.argv[0] = "masakari-api"
        api.main()
    else:
        from masakari.cmd import engine
        sys.argv[0] = "masakari-engine"
        engine.main()


if __name__ == "__main__":
    main()
