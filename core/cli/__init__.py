"""The ``assay`` command line. Commands import the layers they drive lazily, so ``assay --help``
stays fast and ``core`` does not depend on the layers above it at import time."""
