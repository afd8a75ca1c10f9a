"""Everything hybridcore prints for people, and the ``--json`` documents it prints for programs.

``terminal`` makes the Rich consoles; ``stream`` prints Packer's lines as they arrive; ``live`` is the
table of a parallel build on a terminal; ``report`` renders results, errors and listings; ``github``
writes step outputs for GitHub Actions. The CLI only parses arguments and calls these.
"""
