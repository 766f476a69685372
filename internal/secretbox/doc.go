// Package secretbox seals and opens arbiter's secrets with AES-256-GCM under a 32-byte master key
// that lives in a file outside the database, and rotates that key without ever leaving the
// secrets sealed under a key nobody has. It knows nothing of the database: the caller stores
// (name, key id, nonce, ciphertext) and hands them back.
//
// # Binding
//
// Every ciphertext is bound, as AEAD additional data, to the secret's name and to the id of the
// key that sealed it:
//
//	"arbiter-secret\x00" + keyID + "\x00" + name
//
// so a ciphertext copied onto another row, or opened with another key, fails to open (ErrTampered)
// instead of yielding the wrong value. Names cannot contain NUL (arbiter.ValidateName), so the
// encoding is unambiguous.
//
// # Key files
//
// The key is 32 raw bytes in a file of mode 0600: <data dir>/secret.key, created on first start
// (CreateKey), or a systemd credential ($CREDENTIALS_DIRECTORY/arbiter.key, read-only, its mode
// managed by systemd). A file of 64 hex digits and an optional newline is accepted too, for keys
// typed or pasted by hand. A key's id is the first 8 bytes of the SHA-256 of its 32 raw bytes,
// in hex: `head -c 32 secret.key | sha256sum | cut -c 1-16` prints it for a raw key file.
//
// # Rotation
//
// Rotate replaces the key in three steps. Each arrow is a point where the process may die; the
// state is always recoverable by Resume, because the key that seals the stored secrets is always
// in some file and the database says which (its key id):
//
//	            ┌──────────────────────────── reencrypt fails: .new removed ───┐
//	            │                                                              ▼
//	 [A: key=old] ──(1) write key.new──▶ [B: key=old, key.new] ──(2) reencrypt commits──▶
//	 [C: key=old, key.new; secrets sealed by new] ──(3) key → key.old-<old id>, key.new → key──▶
//	 [D: key=new, key.old-<old id>]
//
//	Resume at B: secrets use old = key         → keep key, remove the stale key.new
//	Resume at C: secrets use new = key.new     → finish step 3, return the new key
//	Resume in 3: key.new in use (key still old,
//	             or missing)                   → finish step 3
//	Resume at D: secrets use new = key         → done; the backup stays until the operator removes it
//
// Step 3 hard-links key to its backup and then renames key.new over key, so key always names a
// whole key; where hard links fail it renames key to the backup first, and Resume covers the
// moment key is missing.
//
// The one transaction of step 2 (store.Store.ReplaceSecrets) is the commit point: before it the
// old key is the truth, after it the new one.
package secretbox
