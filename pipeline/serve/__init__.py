"""`callaudit serve`: the review workbench, a local web app over a scan's output folder.

`app` assembles the Starlette application: `guard` is its security middleware
(session, CSRF, request size, headers), `pages` the login, call list and call pages
and reviewers' decisions, `downloads` the recordings and clips (range requests,
logged) and CSV exports, `workbench` the state a server shares; `accounts` holds
reviewers' Argon2id passwords and sessions. The decisions and the access log it
writes live in `core.review_store`, because report and package read them too.
`templates/` holds the Jinja2 pages.
"""
