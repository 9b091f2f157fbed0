"""The HTTP side: app factory, routes and middleware, one module per concern."""
