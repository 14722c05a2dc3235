"""Load stage: read manifests (YAML) into the model."""
