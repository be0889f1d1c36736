"""The parts of ``assay/web-v0`` (``assay.envs.web_env``): the sites (``sites/``) and their server,
the two drivers (text and browser) with the observation and action formats they share, the task
configs (``data/tasks.json``) and their scripted oracles."""
