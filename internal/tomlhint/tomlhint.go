// Package tomlhint words the hints of strict TOML errors, in job files
// and the config file: the intended key behind a typo, and what a value is.
package tomlhint

import "github.com/pelletier/go-toml/v2/unstable"

// Distance is the optimal string alignment distance: Levenshtein with adjacent transpositions
// counting as one edit, since swapped letters are the commonest typo.
func Distance(a, b string) int {
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

// Kind says what a TOML value is, for "expected X, got Y" messages.
func Kind(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.Table, unstable.InlineTable:
		return "a table"
	case unstable.ArrayTable:
		return "an array of tables"
	case unstable.LocalDate:
		return "a date"
	case unstable.LocalTime:
		return "a time"
	case unstable.LocalDateTime, unstable.DateTime:
		return "a date-time"
	}
	return k.String()
}
