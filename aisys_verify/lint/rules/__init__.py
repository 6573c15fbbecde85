"""One module per rule family; importing this package registers them all."""

from aisys_verify.lint.rules import (  # noqa: F401
    deps,
    exposure,
    gpu,
    groups,
    hardening,
    health,
    interpolation,
    ports,
    resources,
    secrets,
    slo,
)
