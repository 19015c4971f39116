"""Administration: what people change (projects, stages, registries, settings), config transfer."""
