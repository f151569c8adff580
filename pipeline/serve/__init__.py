"""`callaudit serve`: the review workbench, a local web app over a scan's output folder.

`app` is the Starlette application (pages, media with range requests, CSRF, Host and
session checks); `accounts` holds reviewers' Argon2id passwords and sessions. The
decisions and the access log it writes live in `core.review_store`, because report
and package read them too. `templates/` holds the Jinja2 pages.
"""
