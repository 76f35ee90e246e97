"""The hub's web console: server-rendered pages and a JSON API served by the hub process.

    app = create_app(hub, sites)          # after ``await hub.start()``
    await serve(app, host="127.0.0.1", port=8080)

Guards, company managers, the regulator and admins log in (argon2 hashes, session cookies,
CSRF tokens, lock-out); every state-changing action is written to the hub's audit log.
"""

from hub.console.app import ConsoleServer, create_app, serve, start_console

__all__ = [
    "ConsoleServer",
    "create_app",
    "serve",
    "start_console",
]
