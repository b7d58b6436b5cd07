"""Application factory.

Laid out for a release directory on the host:
    <release>/app/          this package
    <release>/instance  ->  the app's shared instance/ (holds .env, mode 600)
    <release>/logs      ->  the app's shared logs/
Flask's default instance folder is the package's sibling `instance`, and the
log directory is the instance folder's sibling `logs`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from config import config_for
from dotenv import load_dotenv
from flask import Flask

LOG_FORMAT = "%(asctime)s %(levelname)s: %(message)s [in %(pathname)s:%(lineno)d]"


def create_app(
    config_name: str = "production",
    *,
    instance_path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Flask:
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)

    # Secrets arrive in instance/.env. Values already in the environment
    # (Unit's application environment) win; interpolation is off so a value
    # is taken exactly as written.
    env_file = os.path.join(app.instance_path, ".env")
    if os.path.isfile(env_file):
        load_dotenv(env_file, override=False, interpolate=False)

    app.config.from_object(config_for(config_name))
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or app.config["SECRET_KEY"]
    app.config["GREETING"] = os.environ.get("GREETING", "")
    if overrides:
        app.config.update(overrides)

    if app.config["REQUIRE_SECRET_KEY"] and not app.config["SECRET_KEY"]:
        raise RuntimeError(
            f"SECRET_KEY is not set for the {config_name!r} configuration: put SECRET_KEY=... "
            f"in {env_file} (mode 600) or in the application's environment"
        )

    if app.config["LOG_TO_FILE"]:
        _log_to_file(app)

    from app.views.main import main as main_blueprint

    app.register_blueprint(main_blueprint)

    @app.after_request
    def security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response

    return app


def _log_to_file(app: Flask) -> None:
    log_dir = os.path.join(os.path.dirname(app.instance_path), "logs")
    try:
        os.makedirs(log_dir, exist_ok=True)
    except OSError:
        pass
    if not (os.path.isdir(log_dir) and os.access(log_dir, os.W_OK | os.X_OK)):
        # Starting without a file log beats not starting: Unit still records
        # stderr in its own log.
        app.logger.warning("log directory %s is not writable; logging to stderr only", log_dir)
        return
    # WatchedFileHandler, not RotatingFileHandler: Unit runs several worker
    # processes, and rotating from inside each of them races. Rotate with
    # logrotate; this handler reopens the file when it is moved.
    from logging.handlers import WatchedFileHandler

    handler = WatchedFileHandler(os.path.join(log_dir, "flask_app.log"), encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    app.logger.addHandler(handler)
    app.logger.setLevel(logging.INFO)
    app.logger.info("Flask application startup")
