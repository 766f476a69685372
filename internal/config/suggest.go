package config

import (
	"github.com/arbiterd/arbiter/internal/tomlhint"

	"slices"
	"strings"
)

// aliases are names of settings that users of other daemons, or of the flags, may write.
var aliases = map[string]string{
	"datadir": KeyDataDir, "data": KeyDataDir, "state_dir": KeyDataDir, "dir": KeyDataDir,
	"socket_path": KeySocket, "sock": KeySocket, "listen": KeySocket,
	"group": KeySocketGroup, "key": KeyKeyFile, "secret_key": KeyKeyFile, "jobs": KeyJobsDir,
	"grace": KeyShutdownGrace, "concurrency": KeyMaxRunning, "workers": KeyMaxRunning,
	"parallelism": KeyMaxRunning, "max_output": KeyOutputCap, "log": KeyLogLevel, "level": KeyLogLevel,
	"loglevel": KeyLogLevel,
}

// suggest returns the known key closest to key, or "" when none is close enough to be what
// the user meant. It follows jobfile's suggestion rule; internal packages may not import
// jobfile (see deps_test.go), hence the copy.
func suggest(key string, known []string) string {
	lower := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	if a, ok := aliases[lower]; ok && slices.Contains(known, a) {
		return a
	}
	best, bestDist := "", 0
	for _, k := range known {
		if d := tomlhint.Distance(lower, k); best == "" || d < bestDist {
			best, bestDist = k, d
		}
	}
	// Two edits, or a third of the word for long ones.
	if best != "" && bestDist <= max(2, len(best)/3) && bestDist < len(best) {
		return best
	}
	return ""
}
