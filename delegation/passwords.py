"""The platform's password hasher (argon2, the library's recommended parameters).

In the domain so that staff accounts (delegation.staff) and the demo seed (delegation.seed) hash passwords without
importing the app shell; app/auth.py checks logins with the very same hasher, so a hash written here is one the
login accepts, and a change of parameters reaches both (check_needs_rehash upgrades old hashes at login).
"""
from __future__ import annotations

from argon2 import PasswordHasher

HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return HASHER.hash(password)
