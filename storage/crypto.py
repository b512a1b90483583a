"""Encryption of API keys at rest (Fernet through MultiFernet) and loading of the secret."""

from __future__ import annotations

import os
import secrets as secrets_module
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SECRET_FILE_NAME = "secret.key"


class SecretMismatch(Exception):
    """Stored API keys cannot be decrypted with the configured secret(s)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "Stored API keys cannot be decrypted with the configured SECRET_KEY / secret file; "
            "restore the previous secret (you may put a new one in front: SECRET_KEY=new,old)."
        )


class SecretKeyError(ValueError):
    """The configured secret is not a usable Fernet key. The message never contains the value."""


class KeyCipher:
    """The first secret encrypts; every secret may decrypt (so secrets can be rotated)."""

    def __init__(self, secrets: list[str]) -> None:
        if not secrets:
            raise SecretKeyError("KeyCipher needs at least one Fernet secret")
        self._fernet = MultiFernet([_fernet(secret, source="secret") for secret in secrets])

    def encrypt(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            # Deliberately drops the InvalidToken context: nothing of the token is shown.
            raise SecretMismatch() from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt a token under the newest secret."""
        try:
            return self._fernet.rotate(bytes(token))
        except InvalidToken:
            raise SecretMismatch() from None


def _fernet(secret: str, *, source: str) -> Fernet:
    try:
        return Fernet(secret.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError):
        # The message names where the secret came from but never shows the secret.
        raise SecretKeyError(
            f"{source} is not a valid Fernet key: expected 32 url-safe base64-encoded bytes "
            "(44 characters); generate one with: python -c "
            '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from None


def _split_secrets(raw: str) -> list[str]:
    parts = raw.replace("\n", ",").split(",")
    return [part.strip() for part in parts if part.strip()]


def _validated(secrets: list[str], source: str) -> list[str]:
    if not secrets:
        raise SecretKeyError(f"{source} is empty: expected one or more Fernet keys")
    for index, secret in enumerate(secrets, start=1):
        label = source if len(secrets) == 1 else f"{source} (key {index} of {len(secrets)})"
        _fernet(secret, source=label)
    return secrets


def _create_secret_file(path: Path) -> list[str]:
    """Create the secret file with a fresh key; raises FileExistsError if it already exists.

    The key is written to a private temporary file (0600 from the moment it exists) which is
    then hard-linked into place, so another instance never reads a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = Fernet.generate_key().decode("ascii")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets_module.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask could only have removed bits; make it exact
            os.write(fd, (secret + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)  # atomic; FileExistsError when the file is already there
    finally:
        tmp.unlink(missing_ok=True)
    return [secret]


def load_secrets(
    secret_key: str | None, secret_key_file: Path | None, database_path: Path
) -> list[str]:
    """Secrets newest first: from SECRET_KEY (comma-separated), else from the secret file.

    The file defaults to `<database dir>/secret.key` and is created on first start.
    """
    if secret_key is not None and secret_key.strip():
        return _validated(_split_secrets(secret_key), "SECRET_KEY")
    path = (
        Path(secret_key_file)
        if secret_key_file is not None
        else Path(database_path).parent / SECRET_FILE_NAME
    )
    try:
        return _create_secret_file(path)
    except FileExistsError:
        pass  # normal on every start after the first (or another instance just created it)
    raw = path.read_text(encoding="ascii", errors="replace")
    return _validated(_split_secrets(raw), f"secret file {path}")
