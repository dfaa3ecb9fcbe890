"""Counterfactual identity probes for text models without demographic columns.

Every template is filled with every identity term; the sentences differ only in who is named,
so a fair model scores them alike (Kiritchenko and Mohammad 2018). Per category (gender,
religion...), the audit reports each group's mean positive score, the largest gap between two
groups with a bootstrap interval over templates, and the terms that move the score most.

Templates and terms are trustml's own; users can pass theirs: Python objects, or YAML, JSON
or CSV files (:func:`trustml.data.read_lexicon`, :func:`trustml.data.read_templates`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from trustml.data import LEXICON, TEMPLATES, read_lexicon, read_templates
from trustml.metrics._bootstrap import draws, interval


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def identity_probe(adapter, *, templates: Sequence[str] | str | Path | None = None,
                   lexicon: Mapping[str, Mapping[str, Sequence[str]]] | str | Path | None = None,
                   n_boot: int = 200, seed: int = 0, positive: int = 1) -> list[dict]:
    """Score every template with every identity term; compare groups per category.

    Parameters
    ----------
    adapter : text model adapter
        Anything with ``predict_proba(list_of_strings)``.
    templates : list of str, or a file (YAML / JSON list, or one template per line)
        Each holds ``{person}``. Default: :data:`TEMPLATES`.
    lexicon : mapping category -> group -> terms, or a YAML / JSON / CSV file
        Default: :data:`LEXICON` (see :func:`trustml.data.read_lexicon`).
    n_boot : int
        Bootstrap resamples over templates for the gap's interval.
    seed : int
    positive : int
        Class whose probability is the score.

    Returns
    -------
    list of dict, one per category
        ``category``, ``groups`` (group -> mean score), ``gap`` (max - min group mean),
        ``gap_ci``, ``highest`` / ``lowest`` group, ``terms`` (term -> mean score, sorted by
        distance from the category mean, largest first).
    """
    templates = read_templates(templates) if templates is not None else TEMPLATES
    lexicon = read_lexicon(lexicon) if lexicon is not None else LEXICON
    results = []
    for category, groups in lexicon.items():
        terms = [(g, term) for g, ts in groups.items() for term in ts]
        sentences = [_capitalise(t.format(person=term)) for _, term in terms for t in templates]
        scores = adapter.predict_proba(sentences)[:, positive].reshape(len(terms), len(templates))
        names = list(groups)
        # per group, per template: mean over the group's terms
        by_group = np.stack([scores[[i for i, (g, _) in enumerate(terms) if g == name]].mean(0)
                             for name in names])                        # (groups, templates)
        means = by_group.mean(1)
        gap = float(means.max() - means.min())
        row = {"category": category,
               "groups": {n: float(m) for n, m in zip(names, means)},
               "gap": gap, "highest": names[int(means.argmax())],
               "lowest": names[int(means.argmin())]}
        if n_boot:
            picks = np.concatenate(list(draws(len(templates), n_boot, seed)))
            boot = by_group[:, picks].mean(2)                           # (groups, n_boot)
            row["gap_ci"] = interval(boot.max(0) - boot.min(0))
        term_means = scores.mean(1)
        center = term_means.mean()
        order = np.argsort(-np.abs(term_means - center))
        row["terms"] = {terms[i][1]: float(term_means[i]) for i in order}
        results.append(row)
    return results
