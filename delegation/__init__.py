"""The delegation domain. Importing the package chains every new timeline line (delegation/audit.py, issue 19),
whichever module writes it."""
from delegation import audit  # noqa: F401  registers the hash chain's before_flush listener and the seal table
