"""Every write the pipelines app makes goes through a function in this package."""
