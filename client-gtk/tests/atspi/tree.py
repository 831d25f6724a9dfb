#!/usr/bin/python3
"""Prints one running application's accessibility tree, as a screen reader sees it over AT-SPI.

Usage: tree.py APP_NAME

One JSON object a line: depth, role, name, description, states (showing, visible, focused,
sensitive, ...), for every node under the application. Exits 2 when the application is not (yet) on
the accessibility bus; the caller runs it again, since libatspi does not recover within one process
from a bus that was still starting. The UI tests (client-gtk/tests/a11y.rs) read this; it only
reads, never acts.
"""

import json
import sys
import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi  # noqa: E402

STATES = {
    "showing": Atspi.StateType.SHOWING,
    "visible": Atspi.StateType.VISIBLE,
    "focused": Atspi.StateType.FOCUSED,
    "focusable": Atspi.StateType.FOCUSABLE,
    "sensitive": Atspi.StateType.SENSITIVE,
    "active": Atspi.StateType.ACTIVE,
}


def find_app(name):
    desktop = Atspi.get_desktop(0)
    for i in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(i)
        if app is not None and app.get_name() == name:
            return app
    return None


def walk(node, depth, out):
    try:
        states = node.get_state_set()
        record = {
            "depth": depth,
            "role": node.get_role_name(),
            "name": node.get_name() or "",
            "description": node.get_description() or "",
            "states": [k for k, v in STATES.items() if states.contains(v)],
        }
    except gi.repository.GLib.Error:
        return
    out.write(json.dumps(record) + "\n")
    for i in range(node.get_child_count()):
        child = node.get_child_at_index(i)
        if child is not None:
            walk(child, depth + 1, out)


def main():
    name = sys.argv[1]
    app = find_app(name)
    if app is None:
        print(f"tree.py: no application {name!r} on the accessibility bus", file=sys.stderr)
        return 2
    walk(app, 0, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
