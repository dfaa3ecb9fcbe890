"""Counterfactual identity probes for text models without demographic columns.

Every template is filled with every identity term; the sentences differ only in who is named,
so a fair model scores them alike (Kiritchenko and Mohammad 2018). Per category (gender,
religion...), the audit reports each group's mean positive score, the largest gap between two
groups with a bootstrap interval over templates, and the terms that move the score most. For a
multiclass model the same is done with the probability of each class, and the class with the
largest gap leads.

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


def _compare_groups(scores: np.ndarray, terms: list, names: list, picks) -> dict:
    """One class's probabilities ``scores`` (terms x templates) compared between the groups:
    each group's mean, the gap between the highest and lowest with its interval over the
    template draws ``picks`` (None for none), and each term's mean, farthest from the
    category's mean first."""
    by_group = np.stack([scores[[i for i, (g, _) in enumerate(terms) if g == name]].mean(0)
                         for name in names])                        # (groups, templates)
    means = by_group.mean(1)
    row = {"groups": {n: float(m) for n, m in zip(names, means)},
           "gap": float(means.max() - means.min()), "highest": names[int(means.argmax())],
           "lowest": names[int(means.argmin())]}
    if picks is not None:
        boot = by_group[:, picks].mean(2)                           # (groups, n_boot)
        row["gap_ci"] = interval(boot.max(0) - boot.min(0))
    term_means = scores.mean(1)
    order = np.argsort(-np.abs(term_means - term_means.mean()))
    row["terms"] = {terms[i][1]: float(term_means[i]) for i in order}
    return row


def identity_probe(adapter, *, templates: Sequence[str] | str | Path | None = None,
                   lexicon: Mapping[str, Mapping[str, Sequence[str]]] | str | Path | None = None,
                   n_boot: int = 200, seed: int = 0, positive: int | None = 1,
                   classes: Sequence[str] | None = None) -> list[dict]:
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
    positive : int or None
        Class whose probability is the score; None compares the probability of every class
        (a multiclass model) and leads with the class whose gap is largest.
    classes : sequence of str, optional
        Names of the classes (default: their codes, as text), with ``positive=None``.

    Returns
    -------
    list of dict, one per category
        ``category``, ``groups`` (group -> mean score), ``gap`` (max - min group mean),
        ``gap_ci``, ``highest`` / ``lowest`` group, ``terms`` (term -> mean score, sorted by
        distance from the category mean, largest first). With ``positive=None`` these are of
        the most affected class, named in ``class``, and ``by_class`` holds them for every
        class (the same template draws for all).
    """
    templates = read_templates(templates) if templates is not None else TEMPLATES
    lexicon = read_lexicon(lexicon) if lexicon is not None else LEXICON
    picks = np.concatenate(list(draws(len(templates), n_boot, seed))) if n_boot else None
    results = []
    for category, groups in lexicon.items():
        terms = [(g, term) for g, ts in groups.items() for term in ts]
        sentences = [_capitalise(t.format(person=term)) for _, term in terms for t in templates]
        proba = np.asarray(adapter.predict_proba(sentences))
        proba = proba.reshape(len(terms), len(templates), proba.shape[1])
        if positive is not None:
            results.append({"category": category}
                           | _compare_groups(proba[..., positive], terms, list(groups), picks))
            continue
        names = [str(c) for c in (classes if classes is not None else range(proba.shape[2]))]
        by_class = {name: _compare_groups(proba[..., c], terms, list(groups), picks)
                    for c, name in enumerate(names)}
        leading = max(names, key=lambda name: by_class[name]["gap"])
        results.append({"category": category, "class": leading} | by_class[leading]
                        | {"by_class": by_class})
    return results
