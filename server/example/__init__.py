"""The bundled example: 2 Mb of human chr20 (hg19) with CTCF peaks, TF sites, genes."""
