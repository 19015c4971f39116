"""Imports a seed document into the database and exports the database as one.

An import is one transaction: every secret is encrypted before it is written, and any failure
(a ciphertext made with another key, a name that already exists, a constraint) rolls the whole
document back, so nothing is ever half-imported. The rows are written by `document_writer` and
read back by `document_reader`; this module checks secrets against the key around them.
"""

from __future__ import annotations

from pathlib import Path

from services.admin.document_reader import read_document
from services.admin.document_writer import CONTEXTS, DocumentWriter
from services.admin.seed_format import SecretMode, SeedDocument, iter_secrets, parse_seed
from services.admin.seed_render import render_seed
from services.errors import ConfigError, CryptoError, FieldError, ValidationFailed
from services.secrets import SecretBox, is_encrypted
from services.store.db import Database
from services.store.models import AppState, utcnow

SEED_MARKER = "seed_imported_at"


class ConfigStore:
    """Whole-configuration import and export, and the first-launch seed.

    Re-import (`replace=True`) updates settings and the registries and projects named in the
    document; projects and registries absent from the document are KEPT, never deleted. The
    stages of a project in the document become exactly the document's stages (rows of stages
    whose name matches keep their ids, since instances reference them; stages left out are
    deleted, unless they still have instances: then the whole import is refused).
    A secret left out of the document (as in an export without secrets) keeps the stored one.
    """

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def import_document(self, doc: SeedDocument, *, replace: bool) -> None:
        """Write `doc` in one transaction.

        `replace=False` refuses (ValidationFailed, nothing written) registries or projects that
        already exist; `replace=True` updates them. A `v1:` ciphertext that this key cannot
        decrypt is a ValidationFailed naming its field.
        """
        self._check_ciphertexts(doc)
        with self._db.session() as session:
            DocumentWriter(session, self._box, replace=replace).write(doc)

    def import_yaml(self, text: str, *, replace: bool) -> SeedDocument:
        """Parse and import seed text (the API's and the UI's re-import); returns the document."""
        doc = parse_seed(text)
        self.import_document(doc, replace=replace)
        return doc

    def export_document(self, *, include_secrets: SecretMode = "encrypted") -> SeedDocument:
        """The stored configuration as a document; secrets as their stored `v1:` ciphertext.

        With "encrypted" every ciphertext is first decrypted as a check, so an export never
        carries secrets the next install could not read: raises CryptoError (naming the field)
        when ENCRYPTION_KEY is not the one that encrypted them. "omit" leaves secrets out and
        works even with a lost key, to rescue the rest of the configuration.
        """
        with self._db.session() as session:
            doc = read_document(session, with_secrets=include_secrets == "encrypted")
        for slot in iter_secrets(doc):
            try:
                self._box.decrypt(slot.value, CONTEXTS[slot.kind])
            except CryptoError as exc:
                raise CryptoError(f"{slot.path}: {exc}") from exc
        return doc

    def export_yaml(self, *, include_secrets: SecretMode) -> str:
        """The configuration as seed YAML (the "Export config" download)."""
        doc = self.export_document(include_secrets=include_secrets)
        return render_seed(doc, include_secrets=include_secrets)

    def seed_on_first_launch(self, path: Path) -> bool:
        """Import the seed file once, on the very first start; return whether it imported.

        The marker is written in the same transaction as the import (and also when no file
        exists), so the YAML is never read again. A bad seed raises ConfigError naming the file
        and every problem, and leaves no marker: the fixed file is imported at the next start.
        """
        with self._db.session() as session:
            if session.get(AppState, SEED_MARKER) is not None:
                return False
            doc = _read_seed_file(path)
            if doc is not None:
                try:
                    self._check_ciphertexts(doc)
                    DocumentWriter(session, self._box, replace=False).write(doc)
                except ValidationFailed as exc:
                    raise _seed_error(path, exc) from None
            session.add(AppState(key=SEED_MARKER, value=utcnow().isoformat()))
        return doc is not None

    def _check_ciphertexts(self, doc: SeedDocument) -> None:
        problems = [
            FieldError(slot.path, "cannot be decrypted with this ENCRYPTION_KEY; give the value")
            for slot in iter_secrets(doc)
            if is_encrypted(slot.value) and not self._decrypts(slot.value, CONTEXTS[slot.kind])
        ]
        if problems:
            raise ValidationFailed(problems)

    def _decrypts(self, stored: str, context: str) -> bool:
        try:
            self._box.decrypt(stored, context)
        except CryptoError:
            return False
        return True


def _read_seed_file(path: Path) -> SeedDocument | None:
    if not path.exists():
        return None
    if not path.is_file():  # Docker makes a directory when a bind-mounted file is missing
        raise ConfigError(f"the seed path {path} exists but is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the seed file {path}: {exc}") from exc
    try:
        return parse_seed(text)
    except ValidationFailed as exc:
        raise _seed_error(path, exc) from None


def _seed_error(path: Path, exc: ValidationFailed) -> ConfigError:
    """A bad seed stops the start with the file's name and every problem, one per line."""
    problems = "\n".join(f"  {error}" for error in exc.errors)
    return ConfigError(f"the seed file {path} is not valid; fix it and start again:\n{problems}")
