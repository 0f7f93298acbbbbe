"""Paper package; importing it registers its models."""
