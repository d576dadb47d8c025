"""REST service with an HTML page: ``clinical-ner serve`` (see ``app.create_app``)."""
