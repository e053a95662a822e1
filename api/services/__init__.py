"""Application services: the database work behind the routers. They never commit."""
