package arbiter

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by every layer. Stores map their drivers' errors onto them, and the API
// maps them onto HTTP statuses in one place.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
)

// InvalidError says which field of an input is wrong and how. It matches ErrInvalid.
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Invalidf builds an InvalidError for field.
func Invalidf(field, format string, args ...any) error {
	return &InvalidError{Field: field, Message: fmt.Sprintf(format, args...)}
}
