"""The MoltingModel resource: types only (spec, status, revision identity, the CRD builder)."""
