package rules

import (
	"errors"
	"slices"

	"github.com/corb-dev/corb/schemas"
)

// subscription is one row of the subscriptions table.
type subscription struct {
	key   string // its key in the table: the tombstone's
	id    string // the subscribe command's id: a one-shot is remembered as fired by it
	phone string
	types []schemas.PresenceType
	once  bool
}

// subscriptionIndex is the subscriptions table as one batch sees it, by zone
// ("" for the subscriptions to every zone).
type subscriptionIndex struct {
	byZone map[string][]subscription
}

// subscriptions reads the subscriptions table. A row that is not a
// subscribe command is left out, and reported once.
func (o *Operator) subscriptions() *subscriptionIndex {
	idx := &subscriptionIndex{byZone: map[string][]subscription{}}
	for key, b := range o.tables[o.opts.SubscriptionsTable].Snapshot() {
		var cmd schemas.Command
		err := schemas.Unmarshal(b, &cmd)
		if err == nil && (cmd.CommandType != schemas.CommandSubscribe || cmd.Subscribe == nil) {
			err = errNotSubscribe
		}
		if err != nil {
			if !o.bad[key] {
				o.log.Warn("rules: subscription left out", "key", key, "err", err)
				o.bad[key] = true
			}
			continue
		}
		delete(o.bad, key)
		a := cmd.Subscribe
		zone := cmd.ZoneID
		if a.AllZones {
			zone = ""
		}
		id := cmd.ID
		if id == "" {
			id = key // a v1 command without an id: its key is all there is
		}
		idx.byZone[zone] = append(idx.byZone[zone], subscription{key: key, id: id, phone: a.Subscriber, types: a.Transitions, once: a.Once})
	}
	return idx
}

var errNotSubscribe = errors.New("not a subscribe command with its arguments")

// matching are the subscriptions of zone (and of every zone) to t, by
// phone, without the one-shots st has fired.
func (x *subscriptionIndex) matching(zone string, t schemas.PresenceType, st *zoneState) map[string][]subscription {
	out := map[string][]subscription{}
	for _, z := range []string{zone, ""} {
		for _, s := range x.byZone[z] {
			if _, fired := st.Fired[s.id]; (s.once && fired) || !slices.Contains(s.types, t) {
				continue
			}
			out[s.phone] = append(out[s.phone], s)
		}
	}
	return out
}

// ids are the ids of the subscriptions of zone and of every zone.
func (x *subscriptionIndex) ids(zone string) map[string]bool {
	out := map[string]bool{}
	for _, z := range []string{zone, ""} {
		for _, s := range x.byZone[z] {
			out[s.id] = true
		}
	}
	return out
}
