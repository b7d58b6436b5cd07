"""A small blog in the shape of Flask's tutorial app (flaskr), for da-flask's examples.

- an application factory, `create_app()`;
- SQLite in the instance folder (Flask's default: `instance/` beside the
  package, which on the host is the release's link to the app's shared
  instance/), so the data outlives releases;
- the schema made and migrated by a CLI command, `flask --app flaskr_like
  init-db`, which applies each file of migrations/ once, in order, and is
  safe to run on every deploy (da-flask's releaseCommands);
- configuration from os.environ only (12-factor): SECRET_KEY (required),
  BLOG_TITLE, DATABASE.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

from flask import Flask, render_template

from flaskr_like import db


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    secret = os.environ.get("SECRET_KEY", "")
    if not secret and not (overrides or {}).get("TESTING"):
        raise RuntimeError("SECRET_KEY is not set in the environment")
    app.config.update(
        SECRET_KEY=secret,
        BLOG_TITLE=os.environ.get("BLOG_TITLE", "flaskr-like"),
        DATABASE=os.environ.get("DATABASE") or os.path.join(app.instance_path, "flaskr.sqlite"),
    )
    app.config.update(overrides or {})
    db.init_app(app)

    @app.route("/")
    def index() -> str:
        # Needs the schema: before `init-db`, this is "no such table: post".
        posts = db.get_db().execute(
            "SELECT id, title, body, created FROM post ORDER BY created DESC").fetchall()
        return render_template("index.html", posts=posts, title=app.config["BLOG_TITLE"])

    @app.route("/healthz")
    def healthz() -> str:
        return "ok"

    @app.route("/about")
    def about() -> dict[str, Any]:
        # What the app sees of its environment, without showing the secret.
        return {"title": app.config["BLOG_TITLE"],
                "secret_sha256": hashlib.sha256(app.config["SECRET_KEY"].encode()).hexdigest(),
                "migrations": db.applied(db.get_db())}

    return app
