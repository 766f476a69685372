package arbiter

import (
	"strings"
	"time"
)

// SecretRefPrefix marks an environment value that names a secret: PGPASSWORD=secret:pg.
const SecretRefPrefix = "secret:"

// Secret is an encrypted value as stored. The plaintext never leaves the daemon's memory except
// into the environment of the runs that reference it.
type Secret struct {
	Name       string // same rules as job names
	KeyID      string // which master key sealed it
	Nonce      []byte
	Ciphertext []byte // AES-256-GCM, bound to Name and KeyID as additional data
	Size       int    // plaintext length, for `secret ls`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SecretRefs returns the names of the secrets a job's environment references.
func (j *Job) SecretRefs() []string {
	var names []string
	for _, v := range j.Env {
		if name, ok := strings.CutPrefix(v, SecretRefPrefix); ok {
			names = append(names, name)
		}
	}
	return names
}
