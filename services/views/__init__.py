"""Read models for the pages and the API: dashboard, project page, history, live status board."""
