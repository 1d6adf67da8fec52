package job

import "testing"

func TestVersionConstraint(t *testing.T) {
	for _, tc := range []struct {
		constraint, version string
		want                bool
	}{
		{">= 1.2, < 2.0", "1.2", true},
		{">= 1.2, < 2.0", "1.2.0", true},
		{">= 1.2, < 2.0", "1.10.3", true},
		{">= 1.2, < 2.0", "2.0.0", false},
		{">= 1.2, < 2.0", "1.1.9", false},
		{">=1.2,<2.0", "v1.5.0", true},
		{"1.4.2", "1.4.2", true},
		{"= 1.4", "1.4.0", true},
		{"!= 1.4", "1.4.1", true},
		{"> 1.4", "1.4.0", false},
		{"<= 1.4", "1.4.0-rc1", true},
		{"< 1.4.0", "1.4.0-rc1", true},
		{"> 1.4.0-rc1", "1.4.0-rc2", true},
		{"> 1.4.0-rc.2", "1.4.0-rc.10", true},
		{"> 1.4.0-1", "1.4.0-alpha", true},
		{"= 1.4.0", "1.4.0+build7", true},
		{"~> 1.4", "1.9.0", true},
		{"~> 1.4", "2.0.0", false},
		{"~> 1.4.2", "1.4.9", true},
		{"~> 1.4.2", "1.5.0", false},
		{"~> 1.4.2", "1.4.1", false},
	} {
		c, err := parseVersionConstraint(tc.constraint)
		if err != nil {
			t.Fatalf("%q: %v", tc.constraint, err)
		}
		v, err := parseVersion(tc.version)
		if err != nil {
			t.Fatalf("%q: %v", tc.version, err)
		}
		if got := c.allows(v); got != tc.want {
			t.Errorf("%q allows %q = %v, want %v", tc.constraint, tc.version, got, tc.want)
		}
	}
}

func TestVersionConstraintRejects(t *testing.T) {
	for _, s := range []string{"", ">=", ">= 1.x", "1..2", ">= 1.2,", "=> 1.2"} {
		if _, err := parseVersionConstraint(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}
