package job

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Notification events a webhook can ask for (Notify.On).
const (
	NotifyFailed    = "failed"    // a run failed
	NotifyLost      = "lost"      // a run was lost with its node
	NotifySkipped   = "skipped"   // a tick was skipped (overlap, no eligible node, catch-up window, ...)
	NotifyRecovered = "recovered" // the first complete run after a failed or lost one
	NotifyComplete  = "complete"  // every complete run
)

// notifyEvents are the values Notify.On accepts.
var notifyEvents = []string{NotifyFailed, NotifyLost, NotifySkipped, NotifyRecovered, NotifyComplete}

// Notify is one webhook and the run outcomes it is told of.
type Notify struct {
	// On lists the outcomes: failed, lost, skipped, recovered, complete. Default:
	// failed, lost, skipped, recovered.
	On []string `yaml:"on,omitempty" json:"on,omitempty"`
	// Webhook is the http(s) URL that gets a JSON POST per notification.
	Webhook string `yaml:"webhook" json:"webhook"`
}

// Wants reports whether the webhook asked for event.
func (n *Notify) Wants(event string) bool { return slices.Contains(n.On, event) }

func (n *Notify) validate(p *problems, field string) {
	if len(n.On) == 0 {
		n.On = []string{NotifyFailed, NotifyLost, NotifySkipped, NotifyRecovered}
	}
	for i, ev := range n.On {
		if !slices.Contains(notifyEvents, ev) {
			p.addf(fmt.Sprintf("%s.on[%d]", field, i), "%q is not an event; use %s", ev, strings.Join(notifyEvents, ", "))
		}
	}
	u, err := url.Parse(n.Webhook)
	if n.Webhook == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.addf(field+".webhook", "%q is not an http or https URL", n.Webhook)
	}
}
