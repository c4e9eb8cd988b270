"""The shared core: what the client and the server both speak.

``errors`` (domain errors with their gRPC status), ``alphabet`` (the one letter -> 4-bit code
table), ``wire`` (the packed Batch layout), ``spec`` (the dataset spec and its registries of
samplings and label modes) and ``prefetch`` (the read-ahead helper). Only numpy, grpcio and
protobuf: ``pip install peaksql`` stays light. The server imports these; nothing here
imports the server or the client-only modules.
"""
