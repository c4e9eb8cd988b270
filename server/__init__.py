"""PeakSQL server: catalog database, genome store, ingest, dataset engine and gRPC service."""
