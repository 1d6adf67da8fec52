package job

import (
	"encoding/json"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDurationStringHasNoTrailingZeroUnits(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                              "0s",
		5 * time.Second:                "5s",
		10 * time.Minute:               "10m",
		time.Hour:                      "1h",
		90 * time.Minute:               "1h30m",
		time.Hour + 5*time.Second:      "1h0m5s",
		1500 * time.Millisecond:        "1.5s",
		-time.Hour:                     "-1h",
		720 * time.Hour:                "720h",
		2*time.Minute + 30*time.Second: "2m30s",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("%v: got %q, want %q", d, got, want)
		}
	}
}

func TestDurationJSONIsAString(t *testing.T) {
	b, err := json.Marshal(struct{ D Duration }{Duration(10 * time.Minute)})
	if err != nil || string(b) != `{"D":"10m"}` {
		t.Fatalf("got %s, %v", b, err)
	}
	var v struct{ D Duration }
	if err := json.Unmarshal([]byte(`{"D":"1h30m"}`), &v); err != nil || v.D != Duration(90*time.Minute) {
		t.Errorf("got %v, %v", v.D, err)
	}
	for _, bad := range []string{`{"D":5}`, `{"D":"5"}`, `{"D":"soon"}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	var v struct{ D Duration }
	if err := yaml.Unmarshal([]byte("d: 10m\n"), &v); err != nil || v.D != Duration(10*time.Minute) {
		t.Errorf("got %v, %v", v.D, err)
	}
	if err := yaml.Unmarshal([]byte("d: [1]\n"), &v); err == nil {
		t.Error("a list decoded as a duration")
	}
	out, err := yaml.Marshal(struct{ D Duration }{Duration(time.Hour)})
	if err != nil || string(out) != "d: 1h\n" {
		t.Errorf("got %q, %v", out, err)
	}
}
