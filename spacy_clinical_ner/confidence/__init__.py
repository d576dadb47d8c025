"""``clinical_entity_confidence``: a calibrated confidence on every entity."""
