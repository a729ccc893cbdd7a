"""Multinomial (softmax) regression: baseline-category logits, class 0 the reference.

``family.py`` holds the family object, ``irls.py`` the Newton loop on the
p (K-1) coefficients, ``inference.py`` the statistics and ``fit.py`` the entry
point that ``jg.fit`` dispatches to.
"""
