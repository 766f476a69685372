package paths

import (
	"testing"
)

func TestDataDir(t *testing.T) {
	tests := []struct {
		name string
		euid int
		env  map[string]string
		want string
	}{
		{"env wins over root", 0, map[string]string{EnvDataDir: "/srv/arb"}, "/srv/arb"},
		{"env wins over xdg", 1000, map[string]string{EnvDataDir: "/srv/arb", "XDG_STATE_HOME": "/x"}, "/srv/arb"},
		{"root", 0, map[string]string{"XDG_STATE_HOME": "/x"}, "/var/lib/arbiter"},
		{"xdg state home", 1000, map[string]string{"XDG_STATE_HOME": "/x/state"}, "/x/state/arbiter"},
		{"home default", 1000, map[string]string{"HOME": "/home/ann"}, "/home/ann/.local/state/arbiter"},
		{"relative xdg ignored", 1000, map[string]string{"XDG_STATE_HOME": "state", "HOME": "/home/ann"}, "/home/ann/.local/state/arbiter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			got, err := dataDir(tt.euid)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("dataDir() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDataDirNoHome(t *testing.T) {
	setEnv(t, nil)
	if got, err := dataDir(1000); err == nil {
		t.Errorf("dataDir() = %q, want an error without HOME", got)
	}
}

func TestSocket(t *testing.T) {
	tests := []struct {
		name    string
		euid    int
		env     map[string]string
		dataDir string
		want    string
	}{
		{"env wins over root", 0, map[string]string{EnvSocket: "/tmp/a.sock"}, "/d", "/tmp/a.sock"},
		{"root", 0, map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"}, "/d", "/run/arbiter/arbiter.sock"},
		{"runtime dir", 1000, map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, "/d", "/run/user/1000/arbiter/arbiter.sock"},
		{"data dir", 1000, nil, "/d", "/d/arbiter.sock"},
		{"relative runtime dir ignored", 1000, map[string]string{"XDG_RUNTIME_DIR": "run"}, "/d", "/d/arbiter.sock"},
		{"nothing to go on", 1000, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			if got := socket(tt.euid, tt.dataDir); got != tt.want {
				t.Errorf("socket() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPublic checks that the exported functions read the same environment; the euid
// branches are covered above because the tests may run as root or not.
func TestPublic(t *testing.T) {
	setEnv(t, map[string]string{EnvDataDir: "/srv/arb", EnvSocket: "/tmp/s.sock"})
	if d, err := DataDir(); err != nil || d != "/srv/arb" {
		t.Errorf("DataDir() = %q, %v", d, err)
	}
	if s := Socket("/srv/arb"); s != "/tmp/s.sock" {
		t.Errorf("Socket() = %q", s)
	}
}

// setEnv clears every variable the package reads, then sets env, all restored after the test.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{EnvDataDir, EnvSocket, "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "HOME"} {
		t.Setenv(k, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}
