"""``clinical_name_guard``: people's names in a note are never clinical entities."""
