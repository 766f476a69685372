package shellrunner

import (
	"bytes"
	"encoding/binary"
)

// procargsHasEnv reports whether buf, a process's arguments as macOS's sysctl kern.procargs2
// returns them, holds exactly the environment entry kv. The layout: argc as a 32-bit integer
// in host order (little-endian on every Mac arbiter builds for), the executable's path, NUL
// padding, argc NUL-terminated arguments, then the NUL-terminated environment entries, ended
// by an empty string (what follows is Apple's own "key=value" strings, not the environment).
// It lives outside proc_darwin.go so that its tests run everywhere.
func procargsHasEnv(buf, kv []byte) bool {
	if len(buf) < 4 {
		return false
	}
	argc := int(binary.LittleEndian.Uint32(buf))
	rest := buf[4:]
	path, rest, ok := bytes.Cut(rest, []byte{0})
	if !ok || len(path) == 0 {
		return false
	}
	rest = bytes.TrimLeft(rest, "\x00")
	for ; argc > 0; argc-- {
		var ok bool
		if _, rest, ok = bytes.Cut(rest, []byte{0}); !ok {
			return false
		}
	}
	for len(rest) > 0 {
		var e []byte
		e, rest, _ = bytes.Cut(rest, []byte{0})
		if len(e) == 0 {
			return false
		}
		if bytes.Equal(e, kv) {
			return true
		}
	}
	return false
}
