"""`pipelines.metadata.metadata_types`, as `zenml.metadata.metadata_types`."""
