"""Data layer: :class:`AuditData`, loaders for the embedded and reference sets, and codecs."""

from trustml.data._audit_data import AuditData
from trustml.data._encoding import OrdinalCodec, TabularEncoder
from trustml.data._protection import (
    PHONE_REGIONS,
    PIIMatch,
    k_anonymity,
    pii_summary,
    redact,
    scan_pii,
    split_overlap,
)
from trustml.data._redaction import Redactor, data_strings, redact_pieces
from trustml.data._rows import concat_rows, select_rows
from trustml.data._loaders import (
    cache_dir,
    find_data_file,
    load_adult,
    load_arrests,
    load_german,
    load_rotten_tomatoes,
    load_tweets,
    read_table,
    read_texts,
)

__all__ = ["AuditData", "OrdinalCodec", "PIIMatch", "PHONE_REGIONS", "Redactor", "TabularEncoder",
           "cache_dir", "data_strings", "find_data_file", "k_anonymity", "load_adult",
           "load_arrests", "load_german", "load_rotten_tomatoes", "load_tweets", "pii_summary",
           "read_table", "read_texts", "redact", "redact_pieces", "scan_pii", "select_rows",
           "split_overlap", "concat_rows"]
