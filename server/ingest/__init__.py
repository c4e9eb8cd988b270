"""Ingest: files in, catalog rows and genome store files out (the only writer besides migrations).

Interval files: ``formats`` (the format registry) -> ``lines`` (bytes -> data rows) ->
``converters`` (a column's texts -> values, by the column table's kinds) -> ``reader``
(``read_intervals``: IntervalChunk columns) -> ``intervals`` (``add_data`` /
``remove_condition``: rows in one transaction).

Genomes: ``genome_writer`` (FASTA -> store file; ``fasta_errors`` names the bad line) ->
``assembly`` (``add_assembly`` / ``remove_assembly``). ``compression`` tells gzip from plain
text by the magic bytes; ``example`` builds the bundled example catalog.
"""
