package cleaning

import (
	"testing"
	"time"

	"github.com/corb-dev/corb/operators/cleaning/cleanings"
)

var t0 = time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)

func TestReportText(t *testing.T) {
	used := report{zoneName: "Lawn", since: t0, visits: 23, personMinutes: 411.6, peak: 5,
		firstUse: t0.Add(14 * time.Minute), lastUse: t0.Add(8*time.Hour + 40*time.Minute)}
	with := func(r report, f func(*report)) report { f(&r); return r }
	for _, tc := range []struct {
		name string
		r    report
		loc  *time.Location
		want string
	}{
		{"a person's request", with(used, func(r *report) { r.reason, r.requester, r.requesterName = "spilled coffee", "+15550001", "Ada" }), time.UTC,
			"Cleaning needed: Lawn.\n" +
				"Since the last cleaning (2 Jun 09:00): 23 visits, 412 person-minutes, peak 5 people, first use 2 Jun 09:14, last use 2 Jun 17:40.\n" +
				"Why: spilled coffee. Asked by Ada (+15550001).\n" +
				"Reply DONE Lawn when it is clean."},
		{"automatic, in the building's time zone", with(used, func(r *report) { r.reason, r.policy, r.requester = "usage", "visits >= 20", "rules" }),
			time.FixedZone("EDT", -4*3600),
			"Cleaning needed: Lawn.\n" +
				"Since the last cleaning (2 Jun 05:00): 23 visits, 412 person-minutes, peak 5 people, first use 2 Jun 05:14, last use 2 Jun 13:40.\n" +
				"Why: usage (visits >= 20). Asked by rules.\n" +
				"Reply DONE Lawn when it is clean."},
		{"policy only, unknown phone", with(used, func(r *report) { r.policy, r.requester = "visits >= 20", "+15550077" }), time.UTC,
			"Cleaning needed: Lawn.\n" +
				"Since the last cleaning (2 Jun 09:00): 23 visits, 412 person-minutes, peak 5 people, first use 2 Jun 09:14, last use 2 Jun 17:40.\n" +
				"Why: visits >= 20. Asked by +15550077.\n" +
				"Reply DONE Lawn when it is clean."},
		{"somebody there now, one of everything", report{zoneName: "Lawn", since: t0, visits: 1, personMinutes: 0.6, peak: 1, firstUse: t0.Add(time.Minute), inUse: 1}, time.UTC,
			"Cleaning needed: Lawn.\n" +
				"Since the last cleaning (2 Jun 09:00): 1 visit, 1 person-minute, peak 1 person, first use 2 Jun 09:01, 1 person there now.\n" +
				"Reply DONE Lawn when it is clean."},
		{"unused since cleaned", report{zoneName: "Lawn", since: t0}, time.UTC,
			"Cleaning needed: Lawn.\nNo use recorded since the last cleaning (2 Jun 09:00).\nReply DONE Lawn when it is clean."},
		{"never cleaned, nothing known", report{zoneName: "Lawn", reason: "mud"}, time.UTC,
			"Cleaning needed: Lawn.\nNo use recorded since records began.\nWhy: mud.\nReply DONE Lawn when it is clean."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.text(tc.loc); got != tc.want {
				t.Errorf("text\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestShortTexts(t *testing.T) {
	rec := cleanings.Record{ZoneID: "lawn", Cycle: 3, CleanedAt: t0, By: "+15550002", Name: "Ben", CommandID: "c"}
	anon := rec
	anon.Name = ""
	for _, tc := range []struct{ got, want string }{
		{ackText("Kitchen", 2), "Thanks - cleaning of Kitchen requested; 2 cleaners notified."},
		{ackText("Kitchen", 1), "Thanks - cleaning of Kitchen requested; 1 cleaner notified."},
		{ackText("Kitchen", 0), "Cleaning of Kitchen requested, but nobody in the directory cleans Kitchen: no one was told. Please tell an admin."},
		{doneText("Lawn", rec), "Thanks, Ben: Lawn is marked clean (cleaning 3); its usage counts from zero again."},
		{doneText("Lawn", anon), "Thanks: Lawn is marked clean (cleaning 3); its usage counts from zero again."},
		{alreadyText("Lawn", rec, time.UTC), "Lawn was already marked clean at 2 Jun 09:00 by Ben; nothing changed."},
		{alreadyText("Lawn", anon, time.UTC), "Lawn was already marked clean at 2 Jun 09:00 by +15550002; nothing changed."},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q\nwant %q", tc.got, tc.want)
		}
	}
}
