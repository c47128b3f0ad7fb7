"""The Ray Serve app of one MoltingModel: an OpenAI-compatible ingress with the traffic split and
the filter, in front of a Generator that multiplexes LoRA adapters by revision.

``app.build_app`` is the import path in the Serve config (``contract.serve_config``); ``local``
runs it on one machine. Only ``generator``, ``ingress``, ``app`` and ``local`` import Ray.
"""
