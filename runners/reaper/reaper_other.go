//go:build !linux

package reaper

import (
	"errors"
	"fmt"
	"runtime"
)

// Only Linux has child subreapers (macOS and the BSDs hand every orphan to launchd or init),
// so Start fails there and the daemon runs without one: what leaves a run's process group and
// loses its parent is then out of the daemon's reach.

const waitAll = 0

var errNoSubreaper = fmt.Errorf("child subreapers exist only on Linux, not on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func setSubreaper(bool) error { return errNoSubreaper }

func isSubreaper() (bool, error) { return false, errNoSubreaper }
