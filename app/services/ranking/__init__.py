"""The ranking subsystem, layered so imports run one way (each module imports only
those above it in this list; tests/test_import_layout.py holds it to that):

- ``types``: the pipeline's vocabulary (sources, cursors, candidates, pages);
- ``candidates``, ``artifact_items``: what a strategy is given;
- ``rankers``, ``snapshots``: strategies (newest first, a module now, a stored
  ranking) and the one way a module is run;
- ``registry``: module versions, built-ins and submissions;
- ``choices``: which version a community or member uses;
- ``comparison``: what a version would change in a community's feed;
- ``feeds``: the feed service pages and the API call, for posts and artifacts,
  and the jobs that rank with submitted modules.
"""
