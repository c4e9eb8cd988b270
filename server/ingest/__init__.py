"""Ingest: files in, catalog rows and genome store files out (the only writer besides migrations).

Every input is read through ``text_blocks`` (plain, gzip or bgzip by the magic bytes; BOM;
LF, CRLF or CR; bounded lines) or, for 2bit, ``twobit``.

Interval files: ``formats`` (the format registry) -> ``lines`` (bytes -> data rows) ->
``converters`` (a column's texts -> values, by the column table's kinds) -> ``reader``
(``read_intervals``: IntervalChunk columns; ``sniff_format``) -> ``chromosomes`` (names,
aliases, skipped names) -> ``intervals`` (``add_data_files`` / ``remove_condition``: every
file a part of the interval store via ``store_writer``, all rows in one transaction;
``condition_rows`` checks and fills the condition rows). ``store_migration`` converts an
older catalog's interval rows into parts.

Genomes: ``genome_writer`` (FASTA via ``fasta_reader``, or 2bit via ``twobit`` -> store
file) -> ``assembly`` (``add_assembly`` / ``remove_assembly``). ``scratch`` owns the staging
folders under ``<data_dir>/tmp/`` and sweeps those of killed ingests; ``example`` builds the
bundled example catalog.
"""
