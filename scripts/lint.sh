#!/usr/bin/env bash
# The one lint command: format check, lint rules, strict typing.
source "$(dirname "$0")/_venv.sh"
ruff format --check .
ruff check .
mypy
