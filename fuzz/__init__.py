"""Fuzz harnesses for every decoder that reads bytes from the network or a lab file (DESIGN §6a).

``fuzz.harnesses`` holds one plain function per target: it feeds bytes to a
decoder, touches what a node would touch after a successful parse, and lets
through only the decoder's own typed error.  Anything else escaping is a
finding.  The same functions are driven by atheris for ``make fuzz``
(``fuzz.run``) and by a deterministic mutator in ``make test``
(``tests/fuzz``).  Seeds live in ``fuzz/corpus/<target>/`` and are made by
``fuzz/make_seeds.py``; crash inputs are kept in ``tests/fuzz/crashes/<target>/``.
"""
