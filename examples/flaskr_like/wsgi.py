"""What Unit serves: module "wsgi", callable "application"."""
from flaskr_like import create_app

application = create_app()
