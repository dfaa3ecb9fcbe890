"""What the findings say, keyed by finding id: titles, and the sentences of summaries and
recommendations as templates that the checks fill from their evidence.

A check measures (with the domain packages), judges (a status from the evidence and its
thresholds), then asks this module for its words with :func:`say`; rewording a finding, or
translating the report, touches only this table (tables' column headers stay with the
tables: they name the data's fields, as the JSON report does). Templates use
:meth:`str.format` fields, ``{score[accuracy]:.1%}`` included; a sentence that a finding adds
only in some cases is a template of its own, starting with a space. Keys are finding ids
(a family such as ``fairness.group_metrics`` for ids with a per-feature suffix).
"""

from __future__ import annotations

# Over 400 lines on purpose: one table of every finding's words, by id, so that wording and
# translation live in one place.

WORDS: dict[str, dict[str, str]] = {
    # -- any check (trustml.checks._registry) --------------------------------------------------
    "check.not_run": {
        "title": "The {name} check did not run",
        "summary": "Not run: it needs {wanting}.",
    },
    "check.error": {
        "title": "The {name} check could not run",
        "summary": "It raised {error}: {message}. The concern could not be judged; the other "
                   "checks ran.",
        "advice": "Report the error with the model's kind and the data's shape; run the audit "
                  "with checks= leaving this check out to judge the rest.",
    },
    "check.not_meaningful": {
        "summary": "Not meaningful: {reason}. {summary}",
        "not_working": "the model is no better than always answering {trivial} (balanced "
                       "accuracy {vt[model_balanced]:.3f} against {vt[trivial_balanced]:.3f}; "
                       "95% interval of the gain {low:+.3f} to {high:+.3f})",
        "not_working_regression": "the model predicts no better than always answering "
                                  "{trivial} (mean squared error {vt[model_score]:.4g} against "
                                  "{vt[trivial_score]:.4g}; 95% interval of the error removed "
                                  "{low:.4g} to {high:.4g})",
        "trivial": "{answer!r}",
        "trivial_regression": "the training mean, {answer:.4g}",
    },

    "audit.overall": {
        "not_working": "Not a working model: {reason}; the findings that need one are marked "
                       "not meaningful, so fix the model before reading the rest.",
        "error": "Incomplete: the {raised} check(s) raised, so their concerns could not be "
                 "judged.",
        "fail": "Fails: {titles}.",
        "warn": "Warnings: {titles}.",
        "passes": "Passes every check that ran.",
        "not_run": "Not run: {names}.",
    },

    # -- data quality (trustml.checks.data_quality) --------------------------------------------
    "data_quality.representation": {
        "title": "Class balance and group representation",
        "summary": "{rows} rows ({train} for training, {test} held out). The smallest class or "
                   "group makes up {smallest:.1%} of the data.",
        "warn": " Groups this small are hard to learn and to judge.",
        "table": "Shares of the data",
    },
    "data_quality.duplicates": {
        "title": "Duplicates and train / test leakage",
        "summary": "{out[test_rows_in_train]} of {out[test_rows]} held-out {unit} ({leak:.1%}) "
                   "also appear, with the same label, in the training split, and the training "
                   "split holds {out[train_duplicates]} exact duplicates.",
        "inherent": " Only {out[share_distinct_train]:.0%} of the training {unit} are "
                    "distinct: the inputs take few values, so identical rows are expected for "
                    "different people rather than copies of one record; still, held-out "
                    "scores then measure recall of seen rows as much as generalisation.",
        "leak": " Held-out {unit} seen in training make test scores look better than they "
                "are, and a membership attack mistakes them for members.",
        "advice_inherent": "Judge the model on rows unlike the training ones as well (a later "
                           "period, another site), since identical rows are inherent here.",
        "advice": "Deduplicate before splitting, so that no held-out example is also a "
                  "training example.",
    },
    "data_quality.missing": {
        "title": "Missing values",
        "none": "No value is missing (or infinite) in the {rows} rows: inputs, label and "
                "sensitive features.",
        "summary": "{missing} values are missing in {columns} column(s) of the {rows} source "
                   "rows; {dropped} rows ({share:.1%}) were left out because an input or the "
                   "label was missing.",
        "warn": " Leaving out this many rows can shift who the data represents: the audited "
                "data may no longer match the population the model serves.",
        "advice": "Impute the missing values, or check that the rows left out are spread "
                  "evenly over the groups.",
        "table": "Missing values by column",
        "left_out": "row left out",
        "kept": "kept as the group 'missing'",
    },

    # -- robustness (trustml.checks.robustness) ------------------------------------------------
    "robustness.perturbations": {
        "title": "Consistency under small input changes",
        "not_run": "Not run: {why}.",
        "no_numeric": "no numeric input column to add noise to",
        "unchanged": "no perturbation changed any input",
        "regression": "On {n} held-out rows, the prediction moves by {change:.3g} on average "
                      "under '{worst}'.",
        "summary": "On {n} held-out {unit}, small changes that should not matter change "
                   "{rate:.1%} of the model's answers at worst ('{worst}', over the {altered} "
                   "it altered).",
        "baseline": " The non-private baseline changes {rate:.1%} under the same change.",
        "advice": "Augment the training data with such changes ({changes}), or normalise the "
                  "input before the model.",
        "changes_text": "typos, casing, punctuation",
        "changes_tabular": "measurement noise",
        "table": "Predictions changed by each perturbation (shares of the inputs it altered)",
    },

    # -- compute (trustml.checks.compute) ------------------------------------------------------
    "compute.cost": {
        "title": "Compute cost and hardware",
        "summary": "On {cores} CPU cores{gpu}, the audited model answers {rate:,.0f} held-out "
                   "{unit} per second.",
        "gpu": " and a {gpu} GPU",
        "no_gpu": " (no GPU)",
        "trained": " Training took {times}.",
        "ratio": " The audited model took {ratio:.2f} times as long to train as its baseline.",
        "untrained": " No training record was given, so training time is not reported; pass "
                     "training= to the audit.",
        "table": "Time and throughput (inference: median of {runs} timed calls on {rows} test "
                 "rows after a warm-up; timings vary between runs and machines)",
        "hardware": "Hardware",
    },

    # -- performance (trustml.checks.performance) ----------------------------------------------
    "performance.metrics": {
        "title": "Accuracy on held-out data",
        "title_regression": "Prediction error on held-out data",
        "summary": "On {n} held-out examples the model is right {score[accuracy]:.1%} of the "
                   "time (ROC AUC {score[roc_auc]:.3f}); always answering {trivial} would be "
                   "right {vt[trivial_score]:.1%} of the time. Its balanced accuracy (the mean "
                   "recall over the classes) is {vt[model_balanced]:.3f} against "
                   "{vt[trivial_balanced]:.3f} for that trivial answer: a gain of "
                   "{vt[gain]:+.3f} (95% interval {low:+.3f} to {high:+.3f}).",
        "summary_regression": "On {vt[rows]} held-out rows the model's mean absolute error is "
                              "{score[mae]:.3g} (R² {score[r2]:.3f}); always answering "
                              "{trivial} would give a mean squared error of "
                              "{vt[trivial_score]:.4g} against the model's "
                              "{vt[model_score]:.4g} (95% interval of the error removed "
                              "{low:.4g} to {high:.4g}).",
        "not_working": " It is no better than that, so the findings that need a working model "
                       "(fairness, robustness, stability, explanations, calibration) are "
                       "marked not meaningful.",
        "below_trivial": " It separates the classes better than chance, yet is right less "
                         "often than the trivial answer: check its decision threshold.",
        "drawn_split": " The held-out rows were drawn with seed {seed}, not declared: a model "
                       "trained elsewhere may have seen some of them, which would make these "
                       "scores optimistic.",
        "headline": "{score[accuracy]:.1%} against {vt[trivial_score]:.1%} for always "
                    "answering {trivial}; balanced accuracy {vt[model_balanced]:.3f} against "
                    "{vt[trivial_balanced]:.3f}",
        "headline_regression": "R² {score[r2]:.3f}; mean squared error {vt[model_score]:.4g} "
                               "against {vt[trivial_score]:.4g} for {trivial}",
        "advice_not_working": "The model does no better than the trivial answer: check "
                              "features, training, or the decision threshold before relying "
                              "on it or on the rest of this report.",
        "advice_below_trivial": "Move the decision threshold (or reweight the classes) and "
                                "compare accuracy again.",
        "advice_drawn_split": "Declare the rows the model was trained on (data: {{split: "
                              "COLUMN}} or data: {{train: ..., test: ...}}).",
        "table": "Test-set metrics",
        "label": "Accuracy",
        "label_regression": "R²",
        "confusion": "Confusion matrix of the audited model (rows: true class, columns: "
                     "predicted class)",
    },
    "performance.private_vs_baseline": {
        "title": "Accuracy cost of the privacy protection",
        "summary": "The non-private baseline, trained the same way, is right {base:.1%} of the "
                   "time; the audited model {acc:.1%}: {points:.1f} points lost (95% paired "
                   "interval {low:.1f} to {high:.1f}).",
        "baseline_not_working": "Not meaningful: the baseline itself is no better than always "
                                "answering {trivial}. ",
        "not_working": " The private model is no better than always answering {trivial}: the "
                       "privacy protection left no working model.",
        "label": "Accuracy cost of privacy",
        "headline": "{points:.1f} points below the non-private baseline ({base:.1%})",
        "advice": "Train longer, tune the learning rate and clipping norm, or accept a larger "
                  "epsilon if the use case allows it.",
    },
    "performance.calibration": {
        "title": "Calibration of the probabilities",
        "binary": "When the model gives '{positive}' a probability p, about p of those cases "
                  "should turn out to be '{positive}'",
        "multiclass": "When the model is p sure of its answer, it should be right about p of "
                      "the time",
        "summary": ". On the held-out data it is off by {ece:.3f} on average (expected "
                   "calibration error; Brier score {brier:.3f}); a perfectly calibrated model "
                   "would show up to {noise:.3f} on this many examples by chance.",
        "baseline": " The non-private baseline is off by {ece:.3f}.",
        "advice": "Do not read the scores as probabilities as they are; recalibrate them on "
                  "held-out data (Platt scaling or isotonic regression, e.g. scikit-learn "
                  "CalibratedClassifierCV) before thresholding.",
        "table": "Reliability bins of the audited model",
        "curve": "Reliability diagram (the diagonal is perfect calibration)",
    },
    "performance.cross_validation": {
        "title": "{k}-fold cross-validation",
        "not_run": "Not run: {why}.",
        "no_retrain": "no retrain function was given (pass retrain= and cv_folds= to the audit)",
        "not_private": "the model was trained with DP and the default retraining of a "
                       "scikit-learn model is not private (pass retrain= that trains it "
                       "privately)",
        "asked_none": "cv_folds=0 was asked for",
        "cost_unknown": "retraining cost is unknown: no training record was given (pass "
                        "training= or cv_folds=)",
        "over_budget": "5 trainings would take about {seconds:.0f} s, over the {budget:.0f} s "
                       "budget (pass cv_folds= to run it anyway)",
        "class_too_small": "the smallest class has {smallest} example, too few to hold one out "
                           "in each of two folds",
        "sampled_rows": "{rows:,} (a random sample of the {total:,})",
        "fifths": "Trained {k} times, each time holding out a different fifth of the {rows} "
                  "rows",
        "folds": "Trained {k} times, each time holding out a different 1/{k} of the {rows} rows",
        "summary": ", the model's {metric} is {mean:.3f} on average and varies by {std:.3f} "
                   "(standard deviation) between folds.",
        "fewer_folds": " ({k} folds, not {asked}: the smallest class has only {smallest} "
                       "examples.)",
        "warn": " The score depends on which rows are held out: one split's number is fragile.",
        "advice": "Collect more data or report the cross-validated score with its spread rather "
                  "than one split's.",
        "table": "Scores per fold",
    },

    # -- explainability (trustml.checks.explainability) ----------------------------------------
    "explainability.attributions": {
        "title": "What drives the model's decisions",
        "summary": "Attributions show which inputs drive the model's output, computed on {n} "
                   "held-out examples with {methods}. The default explainer is {method}; by it "
                   "the most influential {what} are {leaders}.",
        "what_text": "tokens",
        "what_tabular": "features",
        "what_image": "pixels",
        "references": " Attributions are measured against {references}.",
        "table": "Global importance: {method}",
        "chart": "Mean |attribution|: {method}",
        "heatmap": "Example {i}: red pushes toward {label!r}, blue away ({method})",
        "the_class": "the class",
        "overlay": "Example {i} (explained class {name}): image and {method}",
    },
    "explainability.quality": {
        "title": "How far the explanations can be trusted",
        "summary": "An explanation is only useful if it is faithful to the model. Deleting the "
                   "inputs {method} ranks highest {effect} on average, against "
                   "{q[random_comprehensiveness]:.3f} for as many random inputs.",
        "effect_units": "moves the prediction by {value:.3f} standard deviations of the "
                        "predictions",
        "effect_probability": "lowers the predicted class's probability by {value:.3f}",
        "stable": " Explanations of the audited model and its baseline agree with Spearman "
                  "{stable:.2f}.",
        "unstable": "the audited model and its baseline are explained differently (Spearman "
                    "{stable:.2f}): what drives the model changed with the privacy protection",
        "flat_model": "deleting inputs, ranked or random, moves the model's output by under "
                      "{floor:g} on average: the model barely depends on them, so faithfulness "
                      "cannot be judged",
        "unfaithful": "{method} is not more faithful than random attributions "
                      "(comprehensiveness {q[comprehensiveness]:.3f} against "
                      "{q[random_comprehensiveness]:.3f} for random inputs)",
        "incomplete": "{method} does not add up to the output change (completeness gap "
                      "{gap:.3f}); raise its number of steps",
        "disagree": "{method} and {other} rank the inputs differently (Spearman {value:.2f})",
        "label": "Faithfulness (comprehensiveness gain)",
        "headline": "deleting the inputs {method} ranks highest changes the output by "
                    "{q[comprehensiveness]:.3f}, random inputs by "
                    "{q[random_comprehensiveness]:.3f}",
        "advice": "Treat the flagged explanations with care: prefer the explainer that scores "
                  "best here, and raise its steps or evaluations.",
        "faithfulness_table": "Faithfulness by deletion (top 10/20/50% of inputs): "
                              "comprehensiveness (higher is better) and sufficiency (lower is "
                              "better), each against random inputs",
        "captum_table": "Captum robustness of integrated gradients ({m} examples; lower is "
                        "better)",
        "agreement_table": "Rank agreement (Spearman; 1 = same order)",
        "audited_model": "{method} (audited model)",
        "on_baseline": "same, on the baseline",
    },
    "explainability.identity_terms": {
        "title": "Attribution on identity terms",
        "none": "None of the {texts} explained texts mentions an identity term from the "
                "fairness lexicon, so no prediction here leans on who is mentioned; the "
                "identity probes test that directly.",
        "summary": "{with_terms} of {texts} explained texts mention an identity term ({terms}); "
                   "in those, identity terms carry {among:.0%} of the attribution, and they "
                   "are among the top 3 tokens in {top_rate:.0%} of all texts.",
        "warn": " The model's predictions lean on who a text mentions.",
    },

    # -- fairness (trustml.checks.fairness) ----------------------------------------------------
    "fairness.group_metrics": {
        "title": "Group fairness by {feature}",
        "title_regression": "Error by {feature} (regression)",
        "title_no_sensitive": "No sensitive features",
        "no_sensitive": "Not run: the data set names no sensitive features, so outcomes could "
                        "not be compared between groups of people.",
        "advice_no_sensitive": "Pass sensitive= columns (e.g. sex, age) to audit group "
                               "fairness.",
        "incomparable": "Only {judged} group(s) of {feature!r} have at least {min_size} test "
                        "examples; groups {small} are too few to judge, so the groups cannot be "
                        "compared.",
        "summary": "Across groups of {feature!r}, the share of positive decisions differs by up "
                   "to {dpd:.3f}{interval} (demographic parity difference) and error rates by "
                   "up to {eod:.3f} (equalized odds difference); 0 would be equal treatment.",
        "interval": " (95% interval {low:.3f} to {high:.3f})",
        "four_fifths": " The least-selected group is chosen at {ratio:.2f} times the rate of "
                       "the most-selected: below the four-fifths rule of thumb.",
        "small_groups": " Groups {small} have fewer than {min_size} test examples: too few to "
                        "judge, so they are shown but left out of the comparison.",
        "summary_regression": "Across groups of {feature!r}, the mean absolute error of the "
                              "worst-served group is {ratio:.2f} times that of the "
                              "best-served{interval}; 1 would be equally accurate for everyone. "
                              "Mean error shows whether a group is systematically over- "
                              "(positive) or under-estimated (negative).",
        "interval_ratio": " (95% interval {low:.2f} to {high:.2f})",
        "summary_multiclass": "Across groups of {feature!r}, accuracy differs by up to "
                              "{acc:.3f}{interval}. The share of examples given one class "
                              "differs by up to {dpd:.3f} (class {dp_class!r}: demographic "
                              "parity, class by class) and the rate at which a class is given "
                              "rightly or wrongly by up to {eod:.3f} (class {eo_class!r}: "
                              "equalized odds, class by class); 0 would be equal treatment.",
        "incomparable_regression": "Fewer than two groups of {feature!r} have at least "
                                   "{min_size} test examples, so the groups cannot be compared.",
        "small_groups_regression": " Groups {small} are too small to judge and are left out of "
                                   "the comparison.",
        "too_small": " (too small)",
        "label": "Fairness gap by {feature}",
        "headline_incomparable": "groups too small to compare",
        "headline": "demographic parity difference (share of positive decisions)",
        "headline_odds": "; equalized odds difference {eod:.3f}",
        "headline_multiclass": "largest difference in the share of examples given one class "
                               "({dp_class!r}), over all classes",
        "label_regression": "Error ratio by {feature}",
        "headline_regression": "mean absolute error of the worst-served group over the "
                               "best-served (1 is equal)",
        "table": "Metrics by {feature} (test split, 95% bootstrap intervals)",
        "table_regression": "Errors by {feature} (test split, 95% bootstrap intervals)",
        "table_multiclass": "Accuracy by {feature} (test split, 95% bootstrap intervals)",
        "class_table": "Each class against the rest, by {feature}: the share of examples given "
                       "the class (selection rate), of its members given it (true-positive "
                       "rate), of the others given it (false-positive rate)",
        "gap_table": "Largest difference between the groups of {feature}, class by class (95% "
                     "bootstrap intervals)",
        "cost_table": "Cost of privacy by {feature}: accuracy of the audited model minus the "
                      "non-private baseline",
        "clip_table": "Clipped per-sample gradients by {feature} (DP training): groups clipped "
                      "more lose more accuracy to privacy",
        "chart": "Selection rate by {feature}",
        "chart_regression": "Mean absolute error by {feature}",
        "chart_multiclass": "Accuracy by {feature}",
        "advice": "Examine why groups are treated differently (proxies, representation), "
                  "collect more data for small groups, and consider mitigation such as "
                  "group-specific thresholds.",
        "advice_regression": "Examine why the model is less accurate for some groups: "
                             "representation in the training data, and proxies.",
        "advice_multiclass": "Examine why groups are treated differently (proxies, "
                             "representation) and collect more data for the groups served "
                             "worst; the mitigation finding says which methods apply.",
    },
    "fairness.identity_probes": {
        "title": "Counterfactual identity probes",
        "summary": "Sentences that differ only in who they mention ({n} categories: "
                   "{categories}) should get the same score. The largest gap is in "
                   "{worst[category]}: {worst[highest]!r} scores {worst[gap]:.3f} higher than "
                   "{worst[lowest]!r} on average.",
        "table": "Score gap between identity groups (95% interval over templates)",
        "chart": "Largest score gap per category",
        "summary_multiclass": "Sentences that differ only in who they mention ({n} categories: "
                              "{categories}) should get the same probability of every class. "
                              "The largest gap is in {worst[category]}, on class "
                              "{worst[class]!r}: its probability for {worst[highest]!r} is "
                              "{worst[gap]:.3f} higher than for {worst[lowest]!r} on average.",
        "table_multiclass": "Probability gap between identity groups on the class each "
                            "category moves most (95% interval over templates)",
        "chart_multiclass": "Largest probability gap per category, over all classes",
        "advice": "The model's output depends on who a text mentions: review training data for "
                  "these groups, and consider counterfactual data augmentation.",
    },
    "fairness.proxies": {
        "title": "Proxies for {feature}",
        "input": "{feature!r} is itself a model input. ",
        "not_input": "{feature!r} is not a model input. ",
        "summary": "From the inputs together it can be predicted with ROC AUC {auc:.2f} (0.5 = "
                   "not at all, 1 = perfectly)",
        "strongest": "; the strongest single proxy is {top[input]!r} (AUC {top[auc]:.2f}).",
        "table": "How well each input predicts {feature} (cross-validated ROC AUC, {rows} "
                 "training rows)",
        "advice": "Leaving the sensitive column out does not keep the model from using it: "
                  "check the strongest proxies and whether they are needed.",
    },
    "fairness.mitigation": {
        "title": "What mitigation would cost",
        "not_judged": "Not judged: fewer than two groups of {features} have {min_size} held-out "
                      "rows or more (min_group_size), so no gap between groups can be measured "
                      "or mitigated.",
        "thresholds": "group-specific thresholds (ThresholdOptimizer)",
        "reduction": "retrained under a constraint (ExponentiatedGradient)",
        "summary": "Mitigation can trade accuracy for equal treatment: group-specific decision "
                   "thresholds work on any model{reduction}. Both are fitted on the training "
                   "rows and judged on held-out data, over the groups large enough to judge (as "
                   "the group fairness findings are). The fairest option by {best[feature]!r} "
                   "is {method} under {constraint}: accuracy {best[before][accuracy]:.3f} -> "
                   "{best[after][accuracy]:.3f}, demographic parity difference "
                   "{best[before][demographic_parity_difference]:.3f} -> "
                   "{best[after][demographic_parity_difference]:.3f}.",
        "with_reduction": ", and scikit-learn models can be retrained under a fairness "
                          "constraint",
        "sampled": " To bound its cost on large data, mitigation was {said}.",
        "sampled_train": "fitted on a random {rows:,} of the {of:,} training rows",
        "sampled_test": "judged on a random {rows:,} of the {of:,} held-out rows (so the "
                        "'before' gaps are that sample's, not the group findings' exactly)",
        "and": " and ",
        "unjudged": " Not judged: {features}, with fewer than two groups of {min_size} held-out "
                    "rows or more.",
        "table": "Before -> after mitigation (test split, groups large enough to judge)",
        "multiclass": "Not run: none of Fairlearn's mitigations applies to a model with {k} "
                      "classes: {refusals}. Post-processing for several classes exists "
                      "outside Fairlearn (Putzel and Lee 2022, e.g. holisticai's "
                      "LPDebiaserMulticlass), which trustml does not depend on.",
        "refusal_binary_labels": "{method} accepts labels 0 and 1 only",
        "refusal_clipped": "{method} runs, but its zero-one loss clips labels into [0, 1], so "
                           "every class after the second counts as the second",
        "refusal_separator": "; ",
        "advice_multiclass": "Mitigate upstream (collect or reweight data for the groups "
                             "served worst), or audit each class against the rest as a binary "
                             "model, where Fairlearn's mitigations apply.",
        "not_retrainable": "Not run: for a regression model Fairlearn's mitigation is "
                           "retraining under a bounded group loss (ExponentiatedGradient), "
                           "which needs a scikit-learn estimator whose fit takes "
                           "sample_weight, and {kind!r} is not one.",
        "summary_regression": "Retraining can lower the error of the groups served worst, "
                              "possibly at a cost overall: the model was retrained under a "
                              "bounded group "
                              "loss (Fairlearn's ExponentiatedGradient with BoundedGroupLoss), "
                              "no group's mean squared error to exceed the model's own on the "
                              "training rows; fitted on those rows and judged on held-out data, "
                              "over the groups large enough to judge. By {row[feature]!r}: the "
                              "worst group's mean squared error "
                              "{row[before][worst_group_mean_squared_error]:.4g} -> "
                              "{row[after][worst_group_mean_squared_error]:.4g}, overall "
                              "{row[before][mean_squared_error]:.4g} -> "
                              "{row[after][mean_squared_error]:.4g}.",
        "table_regression": "Before -> after retraining under bounded group loss (test split, "
                            "groups large enough to judge)",
    },

    # -- privacy (trustml.checks.privacy) ------------------------------------------------------
    "privacy.dp_guarantee": {
        "title": "Differential-privacy guarantee",
        "title_none": "No privacy guarantee",
        "none": "The model was not trained with differential privacy, so nothing bounds what it "
                "may reveal about any one person in its training data.",
        "label_none": "Differential privacy",
        "headline_none": "none: the model was trained without it",
        "advice_none": "Train with trustml.privacy.train_private to get a provable bound "
                       "(epsilon, delta).",
        "summary": "Trained with differential privacy (DP-SGD, {clipping} clipping): epsilon = "
                   "{epsilon:.2f} at delta = {delta:g}, by Opacus' {accountant} accountant. "
                   "Smaller epsilon means stronger protection: any one person's data changes "
                   "the probability of any outcome of training by at most a factor e^epsilon = "
                   "{factor:.1f} (except with probability delta).",
        "however": " However, {problems}.",
        "claim_broken": "the claim does not hold: {problem}",
        "weak": "epsilon {epsilon:.2f} is above {limit:g}, where a guarantee is weak (Ponomareva "
                "et al. 2023, tier 3)",
        "reasonable": "epsilon {epsilon:.2f} is above {strong:g}: a reasonable guarantee, not a "
                      "strong one (Ponomareva et al. 2023, tier 2)",
        "delta": "delta {delta:g} is not below 1/n = {bound:.2g}",
        "seeded": "the noise was drawn from a stated seed, so anyone who knows the seed can "
                  "remove it",
        "remainder": " This run alone spent {run:.2f}; the rest was spent on the same data by "
                     "earlier runs in the privacy ledger, and privacy losses add up.",
        "in_memory": " Its ledger was kept in memory (this process only), so the claim cannot "
                     "be checked against a stored ledger.",
        "confirmed": " The ledger ({ledger}) confirms it: epsilon {epsilon:.2f} up to this "
                     "model's line.",
        "spent_since": " Later runs on the same data have spent more since: {total:.2f} in all.",
        "label": "Differential privacy (epsilon)",
        "headline": "epsilon {epsilon:.2f} at delta {delta:g}",
        "advice": "Lower the target epsilon or delta, keep the noise seed secret, keep the "
                  "ledger, and retrain.",
        "ledger_table": "Privacy ledger of this data set ({ledger}): every training run up to "
                        "this model, composed into the epsilon above",
        "table": "DP-SGD parameters",
    },
    "privacy.personal_data": {
        "title": "Personal information in the data",
        "capped": " (the first {n:,})",
        "texts": "{hits} of {n} texts{capped} hold personal information: {kinds}. Examples "
                 "below are redacted; a model trained on such data can memorise and repeat it.",
        "texts_clean": "No personal information (e-mail addresses, phone numbers, payment "
                       "cards, IP addresses, IBANs, social security numbers and similar) was "
                       "found in {n} texts{capped}. Names and places are not looked for.",
        "examples_table": "Redacted examples",
        "roles": "all {columns} columns of the table ({feature} model inputs, {sensitive} "
                 "sensitive, {other} not used by the model)",
        "capped_each": " (the first {n:,} of each)",
        "scope": "{roles}: their names, and {values:,} distinct values of the text "
                 "columns{capped}",
        "columns": "{n} column(s) hold personal data: {listed}. Looked at {scope}. A model "
                   "trained on such columns, or a file shared with them, can reveal who is in "
                   "the data.",
        "columns_clean": "No column holds personal data. Looked at {scope}: names for people's "
                         "names, contact details, identity numbers, addresses, dates of birth "
                         "and postal codes; values for e-mail addresses, phone numbers, payment "
                         "cards, IP addresses, IBANs, social security numbers and similar "
                         "(names of people inside values are not recognised).",
        "name_says": "its name says {kind}",
        "values_hold": "{hits} of {scanned} values hold {kinds}",
        "column": "{column!r} ({role}: {why})",
        "by_name_only": "numeric: by name only",
        "scanned_of": "{scanned:,} of {distinct:,}",
        "columns_table": "Columns scanned (values are never shown)",
        "advice": "Remove or pseudonymise personal information before training; it is not "
                  "needed to learn the task (data minimisation).",
    },
    "privacy.k_anonymity": {
        "title": "Re-identification risk (k-anonymity)",
        "not_computed": "k-anonymity was not computed: no quasi-identifier was declared, and "
                        "none of the {columns} columns looks like one (a date of birth, postal "
                        "code, age, sex, race and similar, by its name, or a sensitive "
                        "feature). This is not a pass: the audit cannot tell which attributes "
                        "someone may know about a person.",
        "no_qi": "No quasi-identifier was declared and none was recognised among the columns, "
                 "so only the direct identifiers are judged.",
        "declared": "Over the declared quasi-identifiers {named}",
        "proposed": "No quasi-identifiers were declared, so these were proposed from the whole "
                    "table (by their names, and the sensitive features): {named}. Over them",
        "qi": "{origin}, the smallest group of people sharing all their values has {over[k]} "
              "member(s) (the data is {over[k]}-anonymous); {over[unique_rows]} rows "
              "({over[share_unique]:.1%}) are unique, and {over[share_below_k]:.1%} sit in "
              "groups smaller than {limit}. Anyone who knows these attributes of a person can "
              "single out such rows.",
        "direct": "The table also holds direct identifiers: {listed}. As it stands the data is "
                  "{stands[k]}-anonymous: {stands[unique_rows]} rows ({stands[share_unique]:.1%}) "
                  "are unique over them together with the quasi-identifiers: each of them is "
                  "singled out.",
        "advice": "Drop direct identifiers and coarsen quasi-identifiers (bands instead of exact "
                  "values) before training or sharing the data.",
        "advice_declare": "Declare the quasi-identifiers (the attributes someone could know "
                          "about a person: date of birth, postal code, sex...) with "
                          "quasi_identifiers, as an audit() argument or a config key, so the "
                          "audit judges the columns that matter.",
    },
    "privacy.membership_inference": {
        "title": "Membership inference (does the model leak who was in the training data?)",
        "summary": "The strongest attack, {strongest}, guesses whether a person's record was "
                   "used for training with ROC AUC {auc:.3f} (95% interval {low:.3f} to "
                   "{high:.3f}; 0.5 is guessing); at a 1% false-alarm rate it finds "
                   "{tpr:.1%} of the training records.",
        "strongest_lira": "offline LiRA, which compares the model's confidence with that of "
                          "{n} reference models trained without the record",
        "strongest_confidence": "a threshold on the model's confidence",
        "strongest_rmia": "offline RMIA, which compares the model's likelihood ratio on the "
                          "record (its confidence over that of {n} reference models) with the "
                          "same ratio on rows nobody trained on",
        "no_leak": " The interval includes 0.5: no measurable leakage.",
        "assumed": " The members are the training rows of the split drawn with seed {seed}, "
                   "assumed to be the rows the model saw, not declared: declare them when it "
                   "was trained on other rows.",
        "no_references": " The stronger LiRA and RMIA attacks need reference models: pass "
                         "retrain= to the audit (scikit-learn models retrain themselves).",
        "attack_confidence": "confidence threshold",
        "attack_lira": "offline LiRA ({n} reference models)",
        "attack_rmia": "offline RMIA ({n} reference models)",
        "label": "Membership-inference AUC",
        "headline": "0.5 is guessing; {tpr:.1%} of members found at 1% false alarms",
        "table": "Membership attacks on {members} training and {non_members} held-out examples "
                 "(95% bootstrap intervals)",
        "group_table": "Attack AUC by {feature}",
        "advice": "Train with differential privacy (or a smaller epsilon), regularise, or train "
                  "for fewer epochs.",
    },
    "privacy.dp_training_audit": {
        "title": "Audit of the DP training itself (gradient canaries, one run)",
        "summary": "The model's DP training was run again with its recorded noise, sampling "
                   "rate and {steps} steps, with {m} gradient canaries of the clipping norm "
                   "each planted with probability 1/2 and read from every noised step (white "
                   "box); the guesses bound epsilon below by {bound:.2f} ({analysis}), against "
                   "the accountant's {claimed:.2f}.",
        "gaussian": "Gaussian f-DP analysis, exact for full batches",
        "randomized_response": "randomized-response analysis, valid for any DP mechanism",
        "pass": " The DP implementation behaved as claimed: a lower bound can refute a claim, "
                "not prove it, and this one does not refute it.",
        "fail": " The measured lower bound exceeds the claim: the noise, the sampling or the "
                "accounting of the DP engine is broken.",
        "label": "Empirical epsilon of the DP training",
        "headline": "at least {bound:.2f} of the claimed {claimed:.2f}",
        "advice": "Do not release the model; report the failure with the training settings, and "
                  "retrain once the engine is fixed.",
    },
    "privacy.personal_records": {
        "title": "Which personal records leak (membership exposure of rows with personal data)",
        "attack_confidence": "the confidence attack",
        "attack_lira": "offline LiRA",
        "attack_rmia": "offline RMIA",
        "none": "None of the {members} training rows the membership attacks scored carries "
                "personal data the scan recognises, so none of them can leak it.",
        "all": "Every one of the {members} training rows the membership attacks scored carries "
               "personal data: the strongest attack ({attack}) exposes {mine:.1%} of them at a "
               "{fpr:.0%} false-alarm rate, and the membership finding's exposure is theirs.",
        "summary": "Of the {members} training rows the membership attacks scored, {n} carry "
                   "personal data. At a {fpr:.0%} false-alarm rate the strongest attack "
                   "({attack}) exposes {mine:.1%} of them and {others:.1%} of the other "
                   "training rows.",
        "too_few": " Too few rows of one kind to compare them.",
        "difference": " The difference is {difference} (95% bootstrap interval).",
        "warn": " Rows carrying personal data are more exposed than the rest: the model "
                "reveals who is in its training data most for the people whose records hold "
                "the most about them.",
        "pass": " Rows carrying personal data are not measurably more exposed than the rest.",
        "table": "The most exposed training rows with personal data (values never shown)",
        "advice": "Remove or pseudonymise the personal data before training (it is not needed "
                  "to learn the task), or train with differential privacy, which bounds every "
                  "row's exposure alike.",
    },
    "privacy.empirical_epsilon": {
        "title": "Empirical privacy audit (one training run)",
        "private": "Training was repeated once with {m} mislabelled canaries, each included at "
                   "random; from how well the model's confidence tells included canaries from "
                   "excluded ones, epsilon is at least {bound:.2f} with {confidence:.0%} "
                   "confidence, against the accountant's {claimed:.2f}.",
        "refuted": " The measured lower bound exceeds the claim: the DP implementation or its "
                   "accounting is broken.",
        "consistent": " The measurement is consistent with the claim (a lower bound can only "
                      "refute a claim, not prove it).",
        "not_private": "Training was repeated once with {m} mislabelled canaries, each included "
                       "at random; the model's confidence reveals which were included, proving "
                       "an effective epsilon of at least {bound:.2f} ({confidence:.0%} "
                       "confidence): without DP there is no bound on the leakage.",
    },
}


def say(finding_id: str, key: str, **values) -> str:
    """The words ``key`` of the finding ``finding_id``, filled with ``values``.

    Raises
    ------
    KeyError
        No such finding id or key in :data:`WORDS` (a bug of the calling check).
    """
    return WORDS[finding_id][key].format(**values)
