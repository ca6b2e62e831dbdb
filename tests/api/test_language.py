"""Error messages in English or Spanish, chosen from Accept-Language."""

from __future__ import annotations

import ast
import string
import uuid
from pathlib import Path

import httpx
import pytest

import blobstore
from blobstore import errors
from blobstore.api.language import preferred_language
from blobstore.api.messages_es import MESSAGES, TITLES

PACKAGE = Path(blobstore.__file__).parent
CLIENT_ERRORS = {
    name
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, errors.ClientError)
}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("es", "es"),
        ("es-MX", "es"),
        ("ES-es", "es"),
        ("en-US,en;q=0.9,es;q=0.8", "en"),
        ("es;q=0.8, en;q=0.9", "en"),
        ("es;q=0.9, en;q=0.8", "es"),
        ("fr, es;q=0.5", "es"),
        ("fr, de", "en"),
        ("*", "en"),
        ("es;q=0, *", "en"),
        ("en;q=0, *;q=0.5", "es"),
        ("es, en", "es"),
        ("en, es", "en"),
        ("es;q=1.000", "es"),
        ("es;q=1.5", "en"),
        ("es;q=abc", "en"),
        ("es;q=0.0001", "en"),
        ("es ; q=0.7 , en;q=0.3", "es"),
        ("-es", "en"),
        ("es," * 1000, "en"),
    ],
)
def test_preferred_language(header: str | None, language: str) -> None:
    assert preferred_language(header) == language


async def test_spanish_problem_when_es_is_preferred(client: httpx.AsyncClient) -> None:
    key = uuid.uuid4()

    response = await client.get(f"/files/{key}", headers={"Accept-Language": "es-ES,es;q=0.9"})

    assert response.status_code == 404
    assert response.json()["code"] == "file_not_found"
    assert response.json()["title"] == "Archivo no encontrado"
    assert response.json()["detail"] == f"no existe ningún archivo con la clave {key}"
    assert response.headers["content-language"] == "es"
    assert response.headers["vary"] == "Accept-Language"


async def test_english_problem_when_en_outweighs_es(client: httpx.AsyncClient) -> None:
    response = await client.get("/files/nope", headers={"Accept-Language": "es;q=0.5, en"})

    assert response.json()["title"] == "Invalid file key"
    assert response.json()["detail"] == "file key 'nope' is not a UUID"
    assert response.headers["content-language"] == "en"


async def test_spanish_for_starlette_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere", headers={"Accept-Language": "es"})

    assert response.json()["code"] == "not_found"
    assert response.json()["title"] == "No encontrado"
    assert response.json()["detail"] == "GET /nowhere: No encontrado"


async def test_spanish_detail_keeps_parameters(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/files",
        files={"file": ("a", b"x")},
        data={"tags": ["Bad Tag!"]},
        headers={"Accept-Language": "es"},
    )

    assert response.json()["title"] == "Petición no válida"
    assert response.json()["detail"].startswith("la etiqueta 'bad tag!' no es válida")


def raised_messages() -> list[tuple[str, str]]:
    """Return (location, message) for every ClientError raised or built in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in CLIENT_ERRORS or not node.args:
                continue
            first = node.args[0]
            location = f"{path.relative_to(PACKAGE)}:{node.lineno}"
            message = first.value if isinstance(first, ast.Constant) else ast.unparse(first)
            found.append((location, message))
    return found


def test_every_message_has_spanish() -> None:
    messages = raised_messages()
    missing = [(where, message) for where, message in messages if message not in MESSAGES]

    assert len(messages) > 30
    assert missing == []


@pytest.mark.parametrize("english", sorted(MESSAGES))
def test_spanish_template_uses_the_same_placeholders(english: str) -> None:
    def fields(template: str) -> set[str]:
        return {
            f"{name}!{conversion}:{spec}"
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        }

    assert fields(MESSAGES[english]) == fields(english)


def test_every_error_code_has_a_spanish_title() -> None:
    codes = {getattr(errors, name).code for name in CLIENT_ERRORS}

    assert codes - set(TITLES) == set()
