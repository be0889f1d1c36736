"""Importing this registers ``assay/plain-reverse-v0`` (a plain Gymnasium env), for tests that name
an env in Gymnasium's ``module:id`` form."""

import assay

assay.register("plain-reverse-v0", "tests.trainer.echo_env:PlainReverseEnv", override=True)
