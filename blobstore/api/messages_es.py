"""Spanish texts of the error responses, keyed by the English message template.

A template keeps the English placeholders, so the same parameters fill it.
tests/api/test_language.py checks that every template raised in the package
has an entry here.
"""

from __future__ import annotations

__all__ = ["MESSAGES", "TITLES"]

TITLES = {
    "invalid_request": "Petición no válida",
    "malformed_upload": "Subida mal formada",
    "invalid_key": "Clave de archivo no válida",
    "digest_mismatch": "El resumen no coincide",
    "invalid_token": "Token no válido",
    "authentication_required": "Se requiere autenticación",
    "forbidden": "Acceso denegado",
    "file_not_found": "Archivo no encontrado",
    "blob_not_found": "Contenido no encontrado",
    "request_timeout": "Tiempo de espera agotado",
    "precondition_failed": "Precondición no cumplida",
    "upload_too_large": "Subida demasiado grande",
    "unsupported_media_type": "Tipo de contenido no admitido",
    "range_not_satisfiable": "Rango no satisfacible",
    "not_found": "No encontrado",
    "method_not_allowed": "Método no permitido",
    "storage_error": "Error de almacenamiento",
    "client_disconnected": "Cliente desconectado",
    "internal_error": "Error interno del servidor",
}

MESSAGES = {
    # Identity and permissions.
    "this request needs an 'Authorization: Bearer <token>' header": (
        "esta petición necesita una cabecera 'Authorization: Bearer <token>'"
    ),
    "the Authorization header must be 'Bearer <token>'": (
        "la cabecera Authorization debe tener la forma 'Bearer <token>'"
    ),
    "the bearer token is unsigned (alg 'none')": "el token de acceso no está firmado (alg 'none')",
    "the bearer token is not a valid JWT: {reason}": (
        "el token de acceso no es un JWT válido: {reason}"
    ),
    "the bearer token's algorithm {algorithm!r} is not allowed (allowed: {allowed})": (
        "el token de acceso usa el algoritmo {algorithm!r}, que no está permitido "
        "(permitidos: {allowed})"
    ),
    "the bearer token has expired": "el token de acceso ha caducado",
    "the bearer token is not valid yet (nbf or iat)": (
        "el token de acceso todavía no es válido (nbf o iat)"
    ),
    "the bearer token is not meant for audience {audience!r}": (
        "el token de acceso no está destinado a la audiencia {audience!r}"
    ),
    "the bearer token was not issued by {issuer!r}": (
        "el token de acceso no lo ha emitido {issuer!r}"
    ),
    "the bearer token lacks the required {claim!r} claim": (
        "al token de acceso le falta el claim obligatorio {claim!r}"
    ),
    "the bearer token's signature is invalid": "la firma del token de acceso no es válida",
    "no key in JWT_JWKS_FILE has the bearer token's key id {key_id!r}": (
        "ninguna clave de JWT_JWKS_FILE tiene el identificador {key_id!r} del token de acceso"
    ),
    "the bearer token's {claim!r} claim must be a string of 1 to {max_chars} printable "
    "characters": (
        "el claim {claim!r} del token de acceso debe ser una cadena de 1 a {max_chars} "
        "caracteres imprimibles"
    ),
    "only the owner of file {key} or an admin may change it": (
        "solo el propietario del archivo {key} o un administrador pueden modificarlo"
    ),
    # Files and keys.
    "no file with key {key}": "no existe ningún archivo con la clave {key}",
    "file key {key!r} is not a UUID": "la clave de archivo {key!r} no es un UUID",
    # Uploads.
    "invalid Content-Length {value!r}: expected a byte count": (
        "Content-Length {value!r} no es válido: debe ser un número de bytes"
    ),
    "upload exceeds MAX_UPLOAD_MB={limit_mb} (declared {size} bytes)": (
        "la subida supera MAX_UPLOAD_MB={limit_mb} (declara {size} bytes)"
    ),
    "upload exceeds MAX_UPLOAD_MB={limit_mb} (received more than {limit} bytes)": (
        "la subida supera MAX_UPLOAD_MB={limit_mb} (se han recibido más de {limit} bytes)"
    ),
    "no request body data arrived for {seconds:g} s (UPLOAD_IDLE_TIMEOUT_S)": (
        "no ha llegado ningún dato del cuerpo de la petición en {seconds:g} s "
        "(UPLOAD_IDLE_TIMEOUT_S)"
    ),
    "query parameters {names} apply only to raw-body uploads; a multipart "
    "upload names the file in its part and sends tags as form fields": (
        "los parámetros de consulta {names} solo sirven para subidas con el archivo como "
        "cuerpo; una subida multipart lleva el nombre en su parte y las etiquetas en "
        "campos del formulario"
    ),
    "multipart/form-data without a boundary parameter": (
        "multipart/form-data sin el parámetro boundary"
    ),
    "invalid multipart body: {reason}": "el cuerpo multipart no es válido: {reason}",
    "multipart body ended before its closing boundary": (
        "el cuerpo multipart termina antes de su delimitador de cierre"
    ),
    "multipart body has no {field!r} field": "el cuerpo multipart no tiene el campo {field!r}",
    "multipart body has more than one {field!r} field": (
        "el cuerpo multipart tiene más de un campo {field!r}"
    ),
    "multipart body has more than {max_parts} parts": (
        "el cuerpo multipart tiene más de {max_parts} partes"
    ),
    "multipart part headers exceed {max_bytes} bytes": (
        "las cabeceras de una parte multipart superan los {max_bytes} bytes"
    ),
    "multipart part lacks 'Content-Disposition: form-data; name=...'": (
        "a una parte multipart le falta 'Content-Disposition: form-data; name=...'"
    ),
    "multipart field {field!r} exceeds {max_bytes} bytes": (
        "el campo multipart {field!r} supera los {max_bytes} bytes"
    ),
    "multipart field {field!r} is not valid UTF-8": (
        "el campo multipart {field!r} no es UTF-8 válido"
    ),
    "invalid {field!r} field {value!r}: expected 64 hexadecimal digits": (
        "el campo {field!r} no es válido ({value!r}): deben ser 64 dígitos hexadecimales"
    ),
    "invalid content type {content_type!r}: expected type/subtype": (
        "el tipo de contenido {content_type!r} no es válido: debe tener la forma tipo/subtipo"
    ),
    "invalid tag {tag!r}: longer than {max_length} characters": (
        "la etiqueta {tag!r} no es válida: tiene más de {max_length} caracteres"
    ),
    "invalid tag {tag!r}: use lowercase letters, digits and . _ : / -, "
    "starting with a letter or digit": (
        "la etiqueta {tag!r} no es válida: use minúsculas, dígitos y . _ : / -, "
        "y empiece por una letra o un dígito"
    ),
    "too many tags: {count}, at most {max_count} per file": (
        "demasiadas etiquetas: {count}; se admiten como máximo {max_count} por archivo"
    ),
    # Listings and hash lookups.
    "only an admin may list the files of user {user_id!r}; "
    "leave user_id out or set it to your own id": (
        "solo un administrador puede listar los archivos del usuario {user_id!r}; "
        "omita user_id o indique su propio identificador"
    ),
    "no file you may read has content with sha256 {sha256}": (
        "ningún archivo al que tenga acceso guarda contenido con sha256 {sha256}"
    ),
    "unknown query parameter {name!r}; expected {expected}": (
        "parámetro de consulta desconocido: {name!r}; se admiten {expected}"
    ),
    "query parameter {name!r} is given {count} times, at most once": (
        "el parámetro de consulta {name!r} aparece {count} veces; solo se admite una"
    ),
    "invalid {name} {value!r}: expected 64 hexadecimal digits": (
        "{name} no es válido ({value!r}): deben ser 64 dígitos hexadecimales"
    ),
    "invalid {name} {value!r}: expected an ISO 8601 time such as "
    "2026-01-31T12:00:00Z (write a '+' offset as %2B in a URL)": (
        "{name} no es válido ({value!r}): debe ser una fecha y hora ISO 8601, como "
        "2026-01-31T12:00:00Z (en una URL, escriba el signo '+' de un desfase como %2B)"
    ),
    "invalid limit {value!r}: expected an integer from 1 to {max_limit}": (
        "limit no es válido ({value!r}): debe ser un número entero de 1 a {max_limit}"
    ),
    "invalid content_type {value!r}: expected type/subtype": (
        "content_type no es válido ({value!r}): debe tener la forma tipo/subtipo"
    ),
    "invalid user_id: expected 1 to {max_chars} characters": (
        "user_id no es válido: debe tener de 1 a {max_chars} caracteres"
    ),
    "invalid cursor {cursor!r}: pass the next_cursor of the previous page unchanged": (
        "el cursor {cursor!r} no es válido: envíe sin cambios el next_cursor de la página anterior"
    ),
    "invalid cursor {cursor!r}: its time has no UTC offset": (
        "el cursor {cursor!r} no es válido: su hora no indica el desfase respecto a UTC"
    ),
    # Tag edits.
    "request body is larger than {max_bytes} bytes": (
        "el cuerpo de la petición ocupa más de {max_bytes} bytes"
    ),
    "request body is not valid JSON: {reason}": (
        "el cuerpo de la petición no es JSON válido: {reason}"
    ),
    "{name!r} must be a JSON list of strings": "{name!r} debe ser una lista JSON de cadenas",
    'PUT body must be {"tags": [...]} or a JSON list of tags': (
        'el cuerpo de PUT debe ser {"tags": [...]} o una lista JSON de etiquetas'
    ),
    'PATCH body must be {"add": [...], "remove": [...]}, either optional': (
        'el cuerpo de PATCH debe ser {"add": [...], "remove": [...]}; '
        "cualquiera de las dos listas puede faltar"
    ),
    "tags {tags} are both added and removed; send each in one list": (
        "las etiquetas {tags} aparecen a la vez para añadir y para quitar; "
        "envíe cada una en una sola lista"
    ),
    "too many tags: file {key} would carry {count}, at most {max_count} per file": (
        "demasiadas etiquetas: el archivo {key} tendría {count}; "
        "se admiten como máximo {max_count} por archivo"
    ),
    # Bulk import, whose messages go to the command's summary.
    "path is longer than {max_bytes} bytes, the import ledger's limit": (
        "la ruta ocupa más de {max_bytes} bytes, el límite del registro de importaciones"
    ),
    # Digests.
    "sha256 mismatch: expected {expected}, computed {computed}": (
        "el sha256 no coincide: se esperaba {expected} y se ha calculado {computed}"
    ),
    "Content-Digest mismatch: expected {expected}, computed {computed}": (
        "Content-Digest no coincide: se esperaba {expected} y se ha calculado {computed}"
    ),
    "invalid {field} header {value!r}: expected sha-256=:BASE64:": (
        "la cabecera {field} no es válida ({value!r}): debe tener la forma sha-256=:BASE64:"
    ),
    "{field} has no sha-256 digest (found: {algorithms}); only sha-256 is checked": (
        "{field} no contiene un resumen sha-256 (contiene: {algorithms}); solo se comprueba sha-256"
    ),
    # Conditional and range requests.
    "If-Match {value!r} does not match the file's ETag {etag}": (
        "If-Match {value!r} no coincide con el ETag del archivo, {etag}"
    ),
    "If-None-Match {value!r} matches the file's ETag {etag}": (
        "If-None-Match {value!r} coincide con el ETag del archivo, {etag}"
    ),
    "range {range!r} starts at or past the end of the file ({size} bytes)": (
        "el rango {range!r} empieza en el final del archivo o más allá ({size} bytes)"
    ),
    "range {range!r} asks for the last 0 bytes": "el rango {range!r} pide los últimos 0 bytes",
    # Errors that are not ClientErrors.
    "{method} {path}: {title}": "{method} {path}: {title}",
    "the blob store failed; see server logs": (
        "ha fallado el almacén de blobs; consulte los registros del servidor"
    ),
    "the request body ended early": "el cuerpo de la petición terminó antes de tiempo",
    "see server logs": "consulte los registros del servidor",
}
