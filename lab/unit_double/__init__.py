"""A test double of NGINX Unit 1.35's control API, for lab hosts without unitd.

    python -m lab.unit_double --control /path/control.sock --log /path/unit.log \
        --state /path/statedir [--pid FILE]

Written from the behaviour observed on a real daemon
(shared/reference/unit-control-api-observed.md) and held to it by
tests/contract, which runs every assertion against both.  It serves the
control API on a 0600 Unix socket in the foreground, keeps conf.json and
certs/ across restarts, logs to unit.log what the provider reads there, and
removes its socket on SIGTERM.  It serves no application traffic: listeners
are checked and stored, never bound; applications are checked by importing
them (launcher.py), never run.

    jsonreader  Unit's JSON dialect and its error positions
    checks      building blocks for declaring configuration objects
    unitconf    listeners, routes, settings;  appconf  applications
    tree        path-addressed GET/PUT/POST/DELETE on the configuration
    launcher    whether an application would start, and the log lines
    certstore   certificate bundles
    api         requests to answers;  server  socket, HTTP, signals
"""
