package config

import (
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
		if d := distance(lower, k); best == "" || d < bestDist {
			best, bestDist = k, d
		}
	}
	// Two edits, or a third of the word for long ones.
	if best != "" && bestDist <= max(2, len(best)/3) && bestDist < len(best) {
		return best
	}
	return ""
}

// distance is the optimal string alignment distance: Levenshtein with adjacent
// transpositions counting as one edit, since swapped letters are the commonest typo.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
