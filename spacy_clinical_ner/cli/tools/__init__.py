"""The project's own command-line tools: the steps of ``project.yml`` (converting the corpora,
silver annotation, vectors, drug patterns, the knowledge base and linker, calibration, assembling
the relation extractor, linking offline weights). A user of a packaged pipeline needs none of
them. They register on the same ``app`` as the user's commands (under their own ``--help`` panel),
so their names stay what ``project.yml`` and ``scripts/`` call."""
