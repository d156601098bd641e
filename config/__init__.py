"""The bundle's config, built into the wheel as `chargeback.bundled_config` (see pyproject.toml).

The jobs and `chargeback demo` read `chargeback.yml` from here by default; edit it, then `bundle deploy`.
"""
