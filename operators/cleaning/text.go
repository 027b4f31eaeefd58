package cleaning

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/corb-dev/corb/operators/cleaning/cleanings"
)

// The texts keep to the GSM-7 alphabet (no dashes or curly quotes but
// ASCII), so that a report splits into 153-character parts rather than
// 67-character ones.

// report is what a cleaning request tells the cleaners about a zone.
type report struct {
	zoneName       string
	since          time.Time // the last cleaning; zero: never cleaned
	visits         int32
	personMinutes  float64
	peak           int32
	firstUse       time.Time // zero: unknown or unused
	lastUse        time.Time // zero: unknown, unused or in use now
	inUse          int32     // people there now (then lastUse is zero)
	reason, policy string
	requester      string // a phone, "rules", a user
	requesterName  string // the directory's name of the requester
}

// timeLayout is how texts give a time: "2 Jun 09:14".
const timeLayout = "2 Jan 15:04"

// text is the report, e.g.
//
//	Cleaning needed: Lawn.
//	Since the last cleaning (2 Jun 09:00): 23 visits, 412 person-minutes, peak 5 people, first use 2 Jun 09:14, last use 2 Jun 17:40.
//	Why: spilled coffee. Asked by Ada (+15550001).
//	Reply DONE Lawn when it is clean.
func (r report) text(loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Cleaning needed: %s.\n", r.zoneName)
	since := "records began"
	if !r.since.IsZero() {
		since = "the last cleaning (" + r.since.In(loc).Format(timeLayout) + ")"
	}
	if r.visits == 0 && r.personMinutes == 0 && r.inUse == 0 && r.firstUse.IsZero() && r.lastUse.IsZero() {
		fmt.Fprintf(&b, "No use recorded since %s.\n", since)
	} else {
		figures := []string{
			plural(int64(r.visits), "visit", "visits"),
			plural(int64(math.Round(r.personMinutes)), "person-minute", "person-minutes"),
			"peak " + plural(int64(r.peak), "person", "people"),
		}
		if !r.firstUse.IsZero() {
			figures = append(figures, "first use "+r.firstUse.In(loc).Format(timeLayout))
		}
		switch {
		case r.inUse > 0:
			figures = append(figures, plural(int64(r.inUse), "person", "people")+" there now")
		case !r.lastUse.IsZero():
			figures = append(figures, "last use "+r.lastUse.In(loc).Format(timeLayout))
		}
		fmt.Fprintf(&b, "Since %s: %s.\n", since, strings.Join(figures, ", "))
	}
	var why []string
	switch {
	case r.reason != "" && r.policy != "":
		why = append(why, fmt.Sprintf("Why: %s (%s).", r.reason, r.policy))
	case r.reason != "" || r.policy != "":
		why = append(why, fmt.Sprintf("Why: %s.", cmp.Or(r.reason, r.policy)))
	}
	switch {
	case r.requesterName != "":
		why = append(why, fmt.Sprintf("Asked by %s (%s).", r.requesterName, r.requester))
	case r.requester != "":
		why = append(why, fmt.Sprintf("Asked by %s.", r.requester))
	}
	if len(why) > 0 {
		b.WriteString(strings.Join(why, " ") + "\n")
	}
	fmt.Fprintf(&b, "Reply DONE %s when it is clean.", r.zoneName)
	return b.String()
}

// ackText tells the person who asked for a cleaning whether anybody was told.
func ackText(zoneName string, cleaners int) string {
	if cleaners == 0 {
		return fmt.Sprintf("Cleaning of %s requested, but nobody in the directory cleans %s: no one was told. Please tell an admin.", zoneName, zoneName)
	}
	return fmt.Sprintf("Thanks - cleaning of %s requested; %s notified.", zoneName, plural(int64(cleaners), "cleaner", "cleaners"))
}

// doneText confirms a recorded cleaning to the cleaner.
func doneText(zoneName string, rec cleanings.Record) string {
	thanks := "Thanks"
	if rec.Name != "" {
		thanks += ", " + rec.Name
	}
	return fmt.Sprintf("%s: %s is marked clean (cleaning %d); its usage counts from zero again.", thanks, zoneName, rec.Cycle)
}

// alreadyText answers a DONE that is not newer than the zone's last cleaning.
func alreadyText(zoneName string, last cleanings.Record, loc *time.Location) string {
	return fmt.Sprintf("%s was already marked clean at %s by %s; nothing changed.",
		zoneName, last.CleanedAt.In(loc).Format(timeLayout), last.Who())
}

// plural is "1 visit", "2 visits", "0 visits".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
