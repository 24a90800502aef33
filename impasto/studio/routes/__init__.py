"""The studio's HTTP routes, one router per area; `app.create_app` includes them all."""
