package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the length of a master key: AES-256.
const KeySize = 32

// ErrTampered is why Open fails: the ciphertext does not authenticate under this key, this name
// and this key's id. Either the key is not the one that sealed it, or the stored row was altered
// (or copied from another secret's row). It is never a partial success: Open returns no plaintext.
var ErrTampered = errors.New("the key is wrong or the stored value was altered")

// Key is a master key, ready to seal and open. It does not keep the raw key bytes (the AES
// schedule holds what it needs) and never prints them.
type Key struct {
	id   string
	aead cipher.AEAD
}

// newKey builds a Key from 32 raw bytes. The caller may clear raw afterwards.
func newKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("a key is %d bytes, not %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block) // 12-byte random nonces, 16-byte tags
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	return &Key{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// generate returns a new random key and its raw bytes, for writing to a file.
func generate() (*Key, []byte, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	k, err := newKey(raw)
	if err != nil {
		return nil, nil, err
	}
	return k, raw, nil
}

// ID is a short, stable name of the key: the first 8 bytes of the SHA-256 of the key, in hex (16
// characters). It identifies the key without revealing it, and is what the database stores next
// to every ciphertext.
func (k *Key) ID() string { return k.id }

// String names the key by its id, so that logging a Key by mistake prints nothing secret.
func (k *Key) String() string { return "key " + k.id }

// additionalData binds a ciphertext to the secret's name and to the key's id.
func (k *Key) additionalData(name string) []byte {
	return []byte("arbiter-secret\x00" + k.id + "\x00" + name)
}

// Seal encrypts plaintext as the secret called name, under a fresh random nonce. Store the nonce
// and the ciphertext with the name and k.ID(); Open needs all four.
func (k *Key) Seal(name string, plaintext []byte) (nonce, ciphertext []byte, err error) {
	// Random 96-bit nonces: safe for far more seals than a scheduler's secrets will ever see
	// (NIST's bound is 2^32 per key). Never reuse one: GCM under a repeated nonce leaks the
	// authentication key and the XOR of the two plaintexts.
	nonce = make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("seal secret %q: %w", name, err)
	}
	return nonce, k.aead.Seal(nil, nonce, plaintext, k.additionalData(name)), nil
}

// Open decrypts the secret called name. It fails with an error matching ErrTampered, and returns
// no plaintext, when the key, the name, the nonce or the ciphertext is not what Seal used.
func (k *Key) Open(name string, nonce, ciphertext []byte) ([]byte, error) {
	if len(nonce) != k.aead.NonceSize() { // cipher.AEAD.Open panics on a wrong nonce size
		return nil, k.tampered(name)
	}
	plaintext, err := k.aead.Open(nil, nonce, ciphertext, k.additionalData(name))
	if err != nil {
		return nil, k.tampered(name)
	}
	return plaintext, nil
}

func (k *Key) tampered(name string) error {
	return fmt.Errorf("secret %q does not decrypt with key %s: %w", name, k.id, ErrTampered)
}
