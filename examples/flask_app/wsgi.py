"""Entry point Unit imports: module "wsgi", callable "application"."""
import os

from app import create_app

application = create_app(os.environ.get("FLASK_CONFIG", "production"))

if __name__ == "__main__":
    # Local development only; on the host Unit serves `application`.
    application.run()
