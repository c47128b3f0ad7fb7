"""Pure builders of the Kubernetes objects a MoltingModel owns: they return dicts and do no I/O."""
