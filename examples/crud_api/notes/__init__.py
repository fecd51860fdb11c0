"""Notes: an entity, commands and queries with their handlers, and a controller."""
