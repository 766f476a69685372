-- 003: secrets.
--
-- Each row is one secret sealed with AES-256-GCM (internal/secretbox) under the master key whose
-- id is key_id; the key itself lives outside the database. The ciphertext is bound to name and
-- key_id as additional data, so rows cannot be swapped. There is deliberately no plaintext
-- column: a copy of this file alone reveals only names and sizes.
CREATE TABLE secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    key_id     TEXT    NOT NULL,
    nonce      BLOB    NOT NULL,
    ciphertext BLOB    NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0), -- plaintext length, for `secret ls`
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
