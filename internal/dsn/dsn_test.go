package dsn

import "testing"

func TestRedact(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://arbiter:hunter2@db.example:5432/arbiter?sslmode=require",
			"postgres://arbiter:xxxxx@db.example:5432/arbiter?sslmode=require"},
		{"postgresql://arbiter@db/arbiter", "postgresql://arbiter@db/arbiter"},
		{"postgres://db/arbiter?user=a&password=hunter2", "postgres://db/arbiter?password=xxxxx&user=a"},
		{"postgres://db/arbiter?sslpassword=hunter2", "postgres://db/arbiter?sslpassword=xxxxx"},
		{"postgres://a:hun%zzter2@db/x", "postgres://a:xxxxx@db/x"}, // unparsable
		{"host=db user=arbiter password=hunter2 dbname=arbiter", "host=db user=arbiter password=xxxxx dbname=arbiter"},
		{"host=db password = 'hun ter2' dbname=x", "host=db password=xxxxx dbname=x"},
		{`host=db password='it\'s hunter2' dbname=x`, "host=db password=xxxxx dbname=x"},
		{"host=db sslpassword=hunter2", "host=db sslpassword=xxxxx"},
		{"host=db user=arbiter", "host=db user=arbiter"},
		{"mysql://u:hunter2@db/x", "mysql://u:xxxxx@db/x"},
	}
	for _, tt := range tests {
		if got := Redact(tt.dsn); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
	}
}
