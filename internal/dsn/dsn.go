// Package dsn handles the connection strings of a Postgres store: telling them from other store
// settings, and masking their passwords wherever one is printed or logged.
package dsn

import (
	"net/url"
	"regexp"
	"strings"
)

// IsPostgres reports whether s names a Postgres database: a postgres:// or postgresql:// URL.
func IsPostgres(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

var (
	kvPassword  = regexp.MustCompile(`(?i)\b((?:ssl)?password)\s*=\s*(?:'(?:[^'\\]|\\.)*'?|\S*)`)
	urlPassword = regexp.MustCompile(`^([a-z]+://[^:@/]*):[^@/]*@`)
)

// Redact returns dsn with its passwords masked, for messages and logs: a URL's password and
// password or sslpassword parameters (of any scheme), or keyword/value password settings.
func Redact(dsn string) string {
	// Any URL: a store setting that is not Postgres's (a mistake) still holds a password.
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// Unparsable: mask whatever sits where a password would.
			return kvPassword.ReplaceAllString(urlPassword.ReplaceAllString(dsn, "$1:xxxxx@"), "$1=xxxxx")
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	return kvPassword.ReplaceAllString(dsn, "$1=xxxxx")
}
