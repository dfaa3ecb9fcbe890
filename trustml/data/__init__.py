"""Data layer: :class:`AuditData`, loaders for the embedded and reference sets, codecs, and the
identity lexicon."""

from trustml.data._audit_data import AuditData
from trustml.data._encoding import OrdinalCodec, TabularEncoder
from trustml.data._lexicon import LEXICON, TEMPLATES
from trustml.data._lexicon_files import read_lexicon, read_templates
from trustml.data._protection import (
    PHONE_REGIONS,
    PIIMatch,
    k_anonymity,
    pii_summary,
    redact,
    scan_pii,
    split_overlap,
)
from trustml.data._table_scan import (
    direct_identifiers,
    name_kind,
    plain_kind,
    propose_quasi_identifiers,
    reidentification,
    row_pii,
    table_pii,
)
from trustml.data._redaction import Redactor, data_strings, redact_pieces
from trustml.data._rows import RowSample, concat_rows, sample_rows, select_rows
from trustml.data._loaders import (
    cache_dir,
    find_data_file,
    load_adult,
    load_arrests,
    load_german,
    load_rotten_tomatoes,
    load_tweets,
    read_data,
    read_table,
    read_texts,
)

__all__ = ["RowSample", "AuditData", "LEXICON", "OrdinalCodec", "PIIMatch", "PHONE_REGIONS", "Redactor",
           "TEMPLATES", "TabularEncoder",
           "cache_dir", "data_strings", "direct_identifiers", "find_data_file", "k_anonymity",
           "load_adult",
           "load_arrests", "load_german", "load_rotten_tomatoes", "load_tweets", "name_kind",
           "pii_summary", "plain_kind", "propose_quasi_identifiers", "reidentification",
           "read_data", "read_lexicon", "read_table", "read_templates", "read_texts", "redact", "redact_pieces", "sample_rows", "scan_pii", "select_rows",
           "split_overlap", "row_pii", "table_pii", "concat_rows"]
