"""The SQLite connection and the migrations (`flask init-db`)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext

MIGRATIONS = Path(__file__).with_name("migrations")


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"], detect_types=sqlite3.PARSE_DECLTYPES)
        g.db.row_factory = sqlite3.Row
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def applied(conn: sqlite3.Connection) -> list[str]:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                 "(name TEXT PRIMARY KEY, applied TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)")
    return [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not applied yet, in name order, each in one
    transaction with its record: run twice, the second run does nothing."""
    done = set(applied(conn))
    ran = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name in done:
            continue
        with conn:  # one transaction: the migration and its record, or neither
            for statement in path.read_text().split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (path.name,))
        ran.append(path.name)
    return ran


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or migrate the database (safe to run on every deploy)."""
    ran = migrate(get_db())
    click.echo(f"applied: {', '.join(ran)}" if ran else "database up to date")


def init_app(app: Flask) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
