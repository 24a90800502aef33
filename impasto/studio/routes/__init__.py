"""The studio's HTTP routes, one router per area; `app.create_app` includes them all. `events` is no area: it holds
the routes every kind of background job shares (info, cancel, Server-Sent Events)."""
