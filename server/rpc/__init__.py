"""The gRPC layer: the servicer (thin adapters), ``serve``, interceptors (errors, auth,
limits, observability) and logging/metrics. Imports the engine and the catalog; nothing
imports it but the CLI."""
