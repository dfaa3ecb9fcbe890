"""Personal data never leaves raw: the scan finds SSNs and labels phones by region, and every
text an audit writes out (heat maps, token tables, examples, model card, JSON) is redacted."""

import html
import json
import re

import numpy as np
import pytest
import torch

import trustml
from trustml.checks import TokenHeatmap
from trustml.data import AuditData, Redactor, redact_pieces, scan_pii
from trustml.models import LSTMTextClassifier, transformer_sentiment, wrap

EMAIL, CARD, PHONE = "jane.doe@example.com", "4111111111111111", "212-555-0199"
SSN, IBAN = "078-05-1120", "GB82 WEST 1234 5698 7654 32"
PLANTED = ["please mail jane.doe@example.com or call 212-555-0199 today",
           "the card 4111111111111111 was charged twice, then card4111.1111.1111.1111x",
           "my ssn is 078-05-1120 and that is private (ssn078051120)",
           "pay into GB82 WEST 1234 5698 7654 32 by friday"]
LABELS = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE"}


def raw_forms() -> list[str]:
    """Each planted value, and the digits-only (or compact) form of the numbers."""
    forms = [EMAIL, CARD, PHONE, SSN, IBAN, "4111.1111.1111.1111"]
    return forms + [re.sub(r"\D", "", v) for v in (PHONE, SSN)] + [IBAN.replace(" ", "")]


# ---------------------------------------------------------------------------------- scan
def entities(text: str, **kwargs) -> list[tuple[str, str]]:
    return [(m.entity, text[m.start:m.end]) for m in scan_pii([text], **kwargs)]


def test_ssn_shaped_numbers_are_found_even_the_well_known_samples():
    assert entities("my ssn is 078-05-1120") == [("US_SSN", "078-05-1120")]
    assert entities("ssn 123-45-6789.") == [("US_SSN", "123-45-6789")]
    assert entities("order 666-12-3456 shipped") == []  # never issued: area 666


@pytest.mark.parametrize("text, raw, label", [
    ("my ssn 078051120 ok", "078051120", "US_SSN"),
    ("ssn078-05-1120", "078-05-1120", "US_SSN"),
    ("card4111111111111111x", "4111111111111111", "CREDIT_CARD"),
    ("4111.1111.1111.1111", "4111.1111.1111.1111", "CREDIT_CARD"),
    ("phone 212.555.0199", "212.555.0199", "PHONE_NUMBER"),
])
def test_numbers_glued_to_words_or_without_separators_are_found(text, raw, label):
    found = scan_pii([text])
    assert label in {m.entity for m in found}
    assert raw not in Redactor().text(text)


def test_a_phone_written_as_a_phone_is_a_phone_not_an_nhs_number():
    for regions in (("US",), ("US", "GB")):
        assert entities("call 212-555-0199 now", phone_regions=regions) == [
            ("PHONE_NUMBER", "212-555-0199")]
    assert entities("call +1 212 555 0199") == [("PHONE_NUMBER", "+1 212 555 0199")]
    # written the NHS way (3-3-4 digits with spaces) it stays an NHS number
    assert entities("nhs number 943 476 5919") == [("UK_NHS", "943 476 5919")]


def test_phone_numbers_are_labelled_by_the_configured_regions():
    uk = "ring 020 7946 0958 please"
    assert entities(uk, phone_regions=("GB",)) == [("PHONE_NUMBER", "020 7946 0958")]
    assert entities(uk, phone_regions=("US",)) == []


# ----------------------------------------------------------------------------- redaction
def test_tokens_overlapping_a_match_become_one_labelled_token():
    pieces = ["mail ", "jane", ".", "doe", "@", "example", ".", "com ", "now"]
    text = "".join(pieces)
    runs = redact_pieces(pieces, scan_pii([text]))
    assert [t for _, _, t in runs] == ["mail ", "<EMAIL_ADDRESS> ", "now"]
    assert [(a, b) for a, b, _ in runs] == [(0, 1), (1, 8), (8, 9)]
    # a token straddling the start of a match keeps its clean part
    straddle = ["x", "to:jane", ".doe@example.com", " ok"]
    assert [t for _, _, t in redact_pieces(straddle, scan_pii(["".join(straddle)]))] == [
        "x", "to:<EMAIL_ADDRESS>", " ok"]


def test_overlapping_matches_merge_into_one_span():
    # the NHS-shaped digits inside the international phone number give one label
    text = "call +1 212 555 0199 or 4111111111111111"
    assert Redactor().text(text) == "call <PHONE_NUMBER> or <CREDIT_CARD>"


def test_values_seen_in_the_data_are_hidden_in_any_form():
    redactor = Redactor(["write to Jane.Doe@Example.com or call 212-555-0199"])
    # another case, and the digits alone, which the scan of this string could not recognise
    assert redactor.text("JANE.DOE@EXAMPLE.COM dialled 2125550199x") == (
        "<EMAIL_ADDRESS> dialled <PHONE_NUMBER>x")
    heat = TokenHeatmap("t", ["call ", "212", "-", "555", "-", "0199"], [1.0, 2, 3, 4, 5, 6])
    clean = redactor.apply(heat)
    assert clean.tokens == ["call ", "<PHONE_NUMBER>"] and clean.values == [1.0, 20]


def test_digests_and_report_numbers_are_left_alone():
    import hashlib
    redactor = Redactor()
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(300)]
    assert [redactor.text(h) for h in digests] == digests  # DEA-shaped runs inside hex
    for run_id in ("846678450a27", "run 846678450a27 resumed"):  # SSN-shaped digits inside
        assert redactor.text(run_id) == run_id
    for text in ("0.512 [0.488, 0.533]", "epsilon = 2.97 at delta = 1e-05",
                 "2026-12-02T02:23:18+00:00", "1000 rows (750 for training, 250 held out)"):
        assert redactor.text(text) == text


# ------------------------------------------------------------------------- a text audit
@pytest.fixture(scope="module")
def text_audit():
    rng = np.random.default_rng(0)
    words = ["the film", "was", "great", "boring", "a plot", "and", "acting", "fine"]
    texts = [" ".join(rng.choice(words, 8)) for _ in range(160)]
    labels = rng.integers(0, 2, len(texts))
    test_rows = AuditData.from_texts(texts, labels, seed=0).test_idx[:len(PLANTED)]
    for i, t in zip(test_rows, PLANTED):  # the first explained (and drawn) test texts
        texts[i] = t
    data = AuditData.from_texts(texts, labels, seed=0)
    _, tok = transformer_sentiment(trainable="head")
    torch.manual_seed(0)
    model = wrap(LSTMTextClassifier(tok.vocab_size, embed_dim=8, hidden=8), tokenizer=tok,
                 max_length=32)
    return trustml.audit(model, data, checks=["explainability", "personal_data", "duplicates",
                                              "robustness"],
                         explain_rows=8, n_boot=0, progress=False)


def joined_lists(value) -> list[str]:
    """Every list of strings in a JSON value, joined: a heat map's tokens read as one text."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in joined_lists(v)]
    if isinstance(value, list):
        out = ["".join(value)] if value and all(isinstance(v, str) for v in value) else []
        return out + [s for v in value for s in joined_lists(v)]
    return []


def readable(result) -> dict[str, str]:
    """What a reader sees: the HTML's text (tokens are separate elements), the JSON with each
    list of strings also joined, and the model card."""
    page = result.to_html()
    document = result.to_json()
    return {"html": page + html.unescape(re.sub(r"<[^>]+>", "", page)),
            "json": "\n".join([document, *joined_lists(json.loads(document))]),
            "model card": result.to_model_card()}


def test_planted_personal_data_appears_nowhere_raw(text_audit):
    for name, text in readable(text_audit).items():
        for raw in raw_forms():
            assert text.count(raw) == 0, f"{raw!r} in the {name}"
    found = text_audit.finding("privacy.personal_data").metrics["counts"]
    assert set(found) == LABELS


def test_heat_maps_show_the_labels_and_still_read(text_audit):
    maps = text_audit.finding("explainability.attributions").visuals
    shown = "".join(t for m in maps for t in m.tokens)
    assert {f"<{label}>" for label in LABELS} <= set(re.findall(r"<[A-Z_]+>", shown))
    assert "please mail <EMAIL_ADDRESS> or call <PHONE_NUMBER> today" in [
        "".join(m.tokens) for m in maps]
    assert all(len(m.tokens) == len(m.values) for m in maps)
    saved = json.loads(text_audit.to_json())
    assert "<CREDIT_CARD>" in json.dumps(saved["findings"])
