package jobfile

import (
	"strings"

	"github.com/arbiterd/arbiter/internal/tomlhint"
)

// suggest returns the known key closest to key, or "" when none is close enough to be what
// the user meant.
func suggest(key string, known []string) string {
	lower := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	if a, ok := aliases[lower]; ok && contains(known, a) {
		return a
	}
	best, bestDist := "", 0
	for _, k := range known {
		d := tomlhint.Distance(lower, k)
		if best == "" || d < bestDist {
			best, bestDist = k, d
		}
	}
	// Two edits, or a third of the word for long ones: "scheduel", "kill-grace", "timout".
	if best != "" && bestDist <= max(2, len(best)/3) && bestDist < len(best) {
		return best
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
