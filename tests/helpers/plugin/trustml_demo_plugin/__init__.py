"""A third-party plug-in for trustml, laid out as pip installs one (the package beside its
``.dist-info`` with ``entry_points.txt``): a model family trustml does not know, its adapter,
and a check. trustml imports its modules through the entry points, never by name."""
