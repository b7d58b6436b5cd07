from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

main = Blueprint("main", __name__)


@main.route("/")
def index() -> str:
    return render_template("index.html", greeting=current_app.config["GREETING"])


@main.route("/about")
def about() -> str:
    return render_template("about.html")


@main.route("/healthz")
def healthz() -> Response:
    # Cheap and dependency-free: the deploy's health check asks for this.
    return Response("ok", mimetype="text/plain")
