"""Building blocks shared by the dashboard, the project page and the quick deploy page."""
