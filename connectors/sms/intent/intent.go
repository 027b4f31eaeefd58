// Package intent turns the text of an inbound SMS into what its sender asks
// of Corb: a typed Intent, read tolerantly. It is pure Go, with no Kafka and
// no Twilio: the SMS connector calls it and turns the Intent into a command.
//
// Words are compared ignoring case, spacing and punctuation ("Status:  LOBBY!"
// is "status lobby"); zones are named by ID, name or alias, and a word close to
// a zone's name is reported with a suggestion instead of being guessed at. The
// commands (the first word; the others are the zone and options, in any order
// unless said otherwise):
//
//	STATUS [zone...]                       status of those zones, or of every zone
//	SUBSCRIBE zone... [vacated|occupied|all]  a text on each such change (vacated when not said)
//	SUBSCRIBE all [vacated|occupied|all]   the same for every zone
//	NOTIFY zone [when free|when occupied]  one text, the next time (free when not said)
//	UNSUBSCRIBE zone... | all              no more texts about those zones
//	CLEAN zone [reason...]                 ask for a cleaning; the rest of the text is the reason
//	DONE zone...                           the zones are clean again
//	HELP [command]                         how to write commands
//
// Carrier keywords are honoured when they are the whole message, in any case:
// STOP, UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT, CANCEL opt the sender
// out of every text; START, YES, UNSTOP opt them back in; HELP and INFO ask
// for help. So UNSUBSCRIBE alone opts out, while UNSUBSCRIBE kitchen is Corb's
// command. STOP, CANCEL, END, QUIT (and the other opt-out words but
// UNSUBSCRIBE) followed by zones unsubscribe from those zones; followed by
// anything else ("stop texting me", "STOP ALL") they opt out too, unless a
// word is close to a zone's name: the sender then gets the suggestion.
package intent

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is what a text asks for. The kinds that are commands have the value of
// their command type on the bus (schemas.CommandStatus, ...).
type Kind string

const (
	Unknown         Kind = "unknown"          // nothing Corb can act on: see Problem and Usage
	Status          Kind = "status"           // Zones, or every zone (AllZones)
	Subscribe       Kind = "subscribe"        // Zones or AllZones, Transitions, Once
	Unsubscribe     Kind = "unsubscribe"      // Zones or AllZones
	RequestCleaning Kind = "request_cleaning" // one zone in Zones, Reason
	CleaningDone    Kind = "cleaning_done"    // Zones
	Help            Kind = "help"             // Topic
	OptOut          Kind = "opt_out"          // no more texts of any kind to the sender
	OptIn           Kind = "opt_in"           // texts to the sender again
)

// Transition is a change of a zone that a subscription is told of. Its values
// are those of schemas.PresenceType.
type Transition string

const (
	Vacated  Transition = "VACATED"
	Occupied Transition = "OCCUPIED"
)

// Problem says why a text is Unknown.
type Problem string

const (
	NoProblem      Problem = ""
	Empty          Problem = "empty"           // no words at all
	UnknownCommand Problem = "unknown_command" // the first word is no command (Word; Suggestion: a command)
	UnknownZone    Problem = "unknown_zone"    // Word names no zone (Suggestion: a zone's name)
	MissingZone    Problem = "missing_zone"    // the command needs a zone and none is named
	UnexpectedWord Problem = "unexpected_word" // Word is not something Command takes (Suggestion: a word it takes)
)

// Intent is what one text asks for.
type Intent struct {
	Kind Kind
	// Zones are the IDs of the zones named, in the order named, each once;
	// they are always IDs of the zones the Parser was given.
	Zones []string
	// AllZones: every zone — STATUS without a zone (or with "all"),
	// SUBSCRIBE all, UNSUBSCRIBE all. Zones is then empty.
	AllZones bool
	// Transitions are what a Subscribe is told of: Vacated, Occupied or both,
	// in that order; never empty on a Subscribe.
	Transitions []Transition
	// Once: a one-shot subscription (NOTIFY), removed when it first fires.
	Once bool
	// Reason is a RequestCleaning's reason, the rest of the text as written;
	// "" when none is given.
	Reason string
	// Topic is the command a Help asks about ("HELP subscribe"), "" for all.
	Topic Kind
	// Keyword is the carrier keyword the whole text is (STOP, START, HELP,
	// INFO, ...; upper case), "" otherwise. Twilio and the carriers act on a
	// keyword themselves (block or unblock the sender, answer HELP); any other
	// OptOut is Corb's alone to honour.
	Keyword string

	// Problem, Command, Word and Suggestion explain an Unknown.
	Problem Problem
	// Command is the command the text was for, when its first word is one.
	Command Kind
	// Word is the word not understood, as written.
	Word string
	// Suggestion is what Word was probably meant to be, when that is close
	// and unambiguous: a zone's name (UnknownZone), a command (UnknownCommand)
	// or an option (UnexpectedWord). A zone's name must not be sent to a
	// sender who may not know the building.
	Suggestion string
	// Usage is a short reply for an Unknown or a Help: how to write the
	// command concerned, or all of them. It fits one SMS segment (GSM-7) and
	// never names a zone, so any sender may be sent it.
	Usage string
}

// Zone is a zone a text may name. The ID is what an Intent carries; the ID,
// the Name and each of the Aliases name it, compared ignoring case, spacing and
// punctuation, so "Room 2", "room-2" and "ROOM2" are one.
type Zone struct {
	ID      string
	Name    string
	Aliases []string
}

// ErrZones is matched (errors.Is) by NewParser's errors.
var ErrZones = errors.New("intent: bad zone list")

// Parser reads texts against one list of zones. It is immutable and safe for
// concurrent use; build a new one when the list changes.
type Parser struct {
	zones   []Zone
	keys    map[string]int // a name's key → index in zones
	names   []zoneName     // every name, in zone order, for suggestions
	maxSpan int            // most words one name takes
}

type zoneName struct {
	key  string
	zone int
}

// NewParser returns a Parser for zones. Two zones with the same ID, or named
// alike (their names equal ignoring case, spacing and punctuation), an empty
// ID, a name of no letters or digits, and "all" as a name are errors.
func NewParser(zones []Zone) (*Parser, error) {
	p := &Parser{zones: make([]Zone, len(zones)), keys: map[string]int{}, maxSpan: 1}
	var errs []error
	ids := map[string]bool{}
	for i, z := range zones {
		z.Aliases = append([]string(nil), z.Aliases...)
		p.zones[i] = z
		if z.ID == "" {
			errs = append(errs, fmt.Errorf("%w: zone %d has no ID", ErrZones, i))
			continue
		}
		if ids[z.ID] {
			errs = append(errs, fmt.Errorf("%w: zone ID %q given twice", ErrZones, z.ID))
			continue
		}
		ids[z.ID] = true
		for _, name := range append([]string{z.ID, z.Name}, z.Aliases...) {
			if name == "" {
				continue
			}
			toks := tokenize(name)
			key := joinWords(toks)
			switch other, taken := p.keys[key]; {
			case key == "":
				errs = append(errs, fmt.Errorf("%w: zone %q: name %q has no letters or digits", ErrZones, z.ID, name))
			case key == "all":
				errs = append(errs, fmt.Errorf("%w: zone %q: %q means every zone", ErrZones, z.ID, name))
			case taken && other != i:
				errs = append(errs, fmt.Errorf("%w: zone %q: name %q also names zone %q", ErrZones, z.ID, name, zones[other].ID))
			case !taken:
				p.keys[key] = i
				p.names = append(p.names, zoneName{key: key, zone: i})
				p.maxSpan = max(p.maxSpan, len(toks)+1) // "room2" may be written "room 2"
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// maxTokens bounds the words read of one text; Twilio's bodies hold up to
// 1600 characters, and no command needs more than a few words.
const maxTokens = 64

// Parse reads one text. It never fails: what it cannot act on is an Unknown
// with the Problem and a Usage to reply with.
func (p *Parser) Parse(text string) Intent {
	toks := tokenize(text)
	if len(toks) == 0 {
		return Intent{Kind: Unknown, Problem: Empty, Usage: Usage("")}
	}
	if len(toks) == 1 {
		if kind := keyword(toks[0].word); kind != "" {
			in := Intent{Kind: kind, Keyword: strings.ToUpper(toks[0].word)}
			if kind == Help {
				in.Usage = Usage("")
			}
			return in
		}
	}
	if len(toks) > maxTokens {
		toks = toks[:maxTokens]
	}
	kind, once, ok := command(toks[0].word)
	if !ok {
		return Intent{Kind: Unknown, Problem: UnknownCommand, Word: toks[0].text(text),
			Suggestion: strings.ToUpper(nearestWord(toks[0].word, commandWords())), Usage: Usage("")}
	}
	r := reader{p: p, text: text, toks: toks[1:], cmd: kind}
	switch kind {
	case Help:
		return r.help()
	case RequestCleaning:
		return r.clean()
	case Subscribe:
		return r.subscribe(once)
	case Unsubscribe:
		in := r.zoneList(true)
		if w := toks[0].word; keyword(w) == OptOut && w != "unsubscribe" && len(in.Zones) == 0 && in.Suggestion == "" {
			// STOP, CANCEL, ... with words that name no zone ("stop texting
			// me", "STOP ALL"): honour the wish to hear no more at all.
			return Intent{Kind: OptOut}
		}
		return in
	case Status:
		in := r.zoneList(true)
		if in.Kind == Status && len(in.Zones) == 0 {
			in.AllZones = true
		}
		return in
	default: // CleaningDone
		return r.zoneList(false)
	}
}

// keyword returns the kind of a carrier keyword, or "".
func keyword(w string) Kind {
	switch w {
	case "stop", "unsubscribe", "end", "quit", "stopall", "revoke", "optout", "cancel":
		return OptOut
	case "start", "yes", "unstop":
		return OptIn
	case "help", "info":
		return Help
	}
	return ""
}

// command returns the kind the first word of a text asks for, and whether it
// asks once (NOTIFY).
func command(w string) (kind Kind, once, ok bool) {
	switch w {
	case "status", "state":
		return Status, false, true
	case "subscribe", "sub", "follow", "watch":
		return Subscribe, false, true
	case "notify", "tell", "alert":
		return Subscribe, true, true
	case "unsubscribe", "unsub", "unfollow", "unwatch", "stop", "cancel", "end", "quit", "stopall", "optout", "revoke":
		return Unsubscribe, false, true
	case "clean", "cleaning":
		return RequestCleaning, false, true
	case "done", "cleaned", "finished":
		return CleaningDone, false, true
	case "help", "info":
		return Help, false, true
	}
	return "", false, false
}

// commandWords are the words suggested for a mistyped command.
func commandWords() []string {
	return []string{"status", "subscribe", "notify", "unsubscribe", "clean", "done", "help"}
}

// option classifies an argument word that is not a zone.
type option int

const (
	notOption option = iota
	filler           // carries no meaning: "NOTIFY me when kitchen is free"
	every            // "all": every zone, or every transition after a zone
	vacated
	occupied
	both
)

func optionOf(w string) option {
	switch w {
	case "the", "a", "an", "and", "to", "from", "for", "me", "us", "in", "on", "of", "at", "please", "pls",
		"when", "whenever", "if", "is", "it", "its", "becomes", "gets", "goes", "again", "zone", "zones",
		"thanks", "thank", "you":
		return filler
	case "all":
		return every
	case "vacated", "vacant", "vacates", "free", "empty", "available", "clear", "left", "leaves":
		return vacated
	case "occupied", "busy", "taken", "used", "entered", "enters", "full":
		return occupied
	case "both", "any", "changes", "change", "everything":
		return both
	}
	return notOption
}

// transitionWords are the words suggested for a mistyped transition.
func transitionWords() []string {
	return []string{"vacated", "occupied", "free", "busy", "all", "both"}
}

// reader reads the words after the command.
type reader struct {
	p    *Parser
	text string
	toks []token
	cmd  Kind
}

func (r *reader) unknown(problem Problem, word, suggestion string) Intent {
	return Intent{Kind: Unknown, Problem: problem, Command: r.cmd, Word: word, Suggestion: suggestion, Usage: Usage(r.cmd)}
}

// zoneAt returns the zone named by the longest run of words from toks[i],
// and how many words it takes; -1 when none is.
func (r *reader) zoneAt(i int) (zone, n int) {
	for n := min(r.p.maxSpan, len(r.toks)-i); n >= 1; n-- {
		if z, ok := r.p.keys[joinWords(r.toks[i:i+n])]; ok {
			return z, n
		}
	}
	return -1, 0
}

// notAZone reports toks[i], which names no zone: with the zone it is close
// to, if any.
func (r *reader) notAZone(i int) Intent {
	word, zone := r.nearestZone(i)
	if zone < 0 {
		return r.unknown(UnknownZone, word, "")
	}
	return r.unknown(UnknownZone, word, r.p.zones[zone].display())
}

// nearestZone finds the zone whose name is closest to a run of words from
// toks[i], preferring the longer run; zone is -1 when none is close or two
// are equally close. word is that run as written, or toks[i] when no name is
// close.
func (r *reader) nearestZone(i int) (word string, zone int) {
	best, bestN, tie := maxDistance+1, 0, false
	zone = -1
	for n := min(r.p.maxSpan, len(r.toks)-i); n >= 1; n-- {
		key := joinWords(r.toks[i : i+n])
		for _, name := range r.p.names {
			d := distance(key, name.key)
			if d > allowed(name.key) || d > best {
				continue
			}
			switch {
			case d < best:
				best, bestN, zone, tie = d, n, name.zone, false
			case name.zone != zone && n == bestN:
				tie = true
			}
		}
	}
	switch {
	case zone < 0:
		return r.toks[i].text(r.text), -1
	case tie:
		return r.span(i, bestN), -1
	}
	return r.span(i, bestN), zone
}

func (r *reader) span(i, n int) string { return r.text[r.toks[i].start:r.toks[i+n-1].end] }

// zoneList reads zone names, fillers and "all" (every zone, when
// allowAll). A text that names no zone is a MissingZone, unless it is STATUS.
func (r *reader) zoneList(allowAll bool) Intent {
	in := Intent{Kind: r.cmd}
	seen := map[int]bool{}
	for i := 0; i < len(r.toks); {
		if z, n := r.zoneAt(i); z >= 0 {
			if !seen[z] {
				seen[z] = true
				in.Zones = append(in.Zones, r.p.zones[z].ID)
			}
			i += n
			continue
		}
		switch optionOf(r.toks[i].word) {
		case filler:
		case every:
			if !allowAll {
				return r.unexpected(i, "")
			}
			in.AllZones = true
		default:
			return r.notAZone(i)
		}
		i++
	}
	if in.AllZones {
		in.Zones = nil // "all" covers the zones named too
	}
	if len(in.Zones) == 0 && !in.AllZones && r.cmd != Status {
		return r.unknown(MissingZone, "", "")
	}
	return in
}

func (r *reader) unexpected(i int, suggestion string) Intent {
	return r.unknown(UnexpectedWord, r.toks[i].text(r.text), suggestion)
}

// subscribe reads zones and the transitions asked for. Once a zone is named,
// a transition word is one even where it would name a zone ("NOTIFY kitchen
// when free" with a zone called Free), and "all" means every transition.
func (r *reader) subscribe(once bool) Intent {
	in := Intent{Kind: Subscribe, Once: once}
	var vac, occ, all bool
	seen := map[int]bool{}
	for i := 0; i < len(r.toks); i++ {
		opt := optionOf(r.toks[i].word)
		if len(seen) > 0 {
			switch opt {
			case vacated:
				vac = true
				continue
			case occupied:
				occ = true
				continue
			case both, every:
				vac, occ = true, true
				continue
			}
		}
		if z, n := r.zoneAt(i); z >= 0 {
			if !seen[z] {
				seen[z] = true
				in.Zones = append(in.Zones, r.p.zones[z].ID)
			}
			i += n - 1
			continue
		}
		switch opt {
		case filler:
		case every:
			all = true
		case vacated:
			vac = true
		case occupied:
			occ = true
		case both:
			vac, occ = true, true
		default:
			if s := nearestWord(r.toks[i].word, transitionWords()); s != "" && len(seen) > 0 {
				return r.unexpected(i, s)
			}
			return r.notAZone(i)
		}
	}
	switch {
	case all && len(in.Zones) == 0:
		in.AllZones = true
	case all:
		vac, occ = true, true
	case len(in.Zones) == 0:
		return r.unknown(MissingZone, "", "")
	}
	if !vac && !occ {
		vac = true // "tell me when it is free" is what people subscribe for
	}
	if vac {
		in.Transitions = append(in.Transitions, Vacated)
	}
	if occ {
		in.Transitions = append(in.Transitions, Occupied)
	}
	return in
}

// clean reads CLEAN zone reason...: the zone first (after fillers), then the
// rest of the text as written.
func (r *reader) clean() Intent {
	for i := 0; i < len(r.toks); i++ {
		if z, n := r.zoneAt(i); z >= 0 {
			reason := ""
			if i+n < len(r.toks) {
				reason = strings.TrimSpace(r.text[r.toks[i+n].start:])
			}
			return Intent{Kind: RequestCleaning, Zones: []string{r.p.zones[z].ID}, Reason: reason}
		}
		switch optionOf(r.toks[i].word) {
		case filler:
			continue
		case every:
			return r.unexpected(i, "")
		}
		return r.notAZone(i)
	}
	return r.unknown(MissingZone, "", "")
}

// help reads HELP [command]; an unknown topic is general help.
func (r *reader) help() Intent {
	in := Intent{Kind: Help}
	for _, t := range r.toks {
		if k, _, ok := command(t.word); ok && k != Help {
			in.Topic = k
			break
		}
	}
	in.Usage = Usage(in.Topic)
	return in
}

// Usage is how to write the command of kind k, or every command for "",
// Unknown and Help: one GSM-7 segment that names no zone.
func Usage(k Kind) string {
	switch k {
	case Status:
		return "STATUS: how every zone is. STATUS zone: how one zone is, and how many are in it."
	case Subscribe:
		return "SUBSCRIBE zone vacated/occupied/all: a text on each change (vacated if not said). SUBSCRIBE all: every zone. NOTIFY zone when free: one text."
	case Unsubscribe:
		return "UNSUBSCRIBE zone, or UNSUBSCRIBE all: no more texts about it. STOP: no texts at all."
	case RequestCleaning:
		return "CLEAN zone reason: ask for the zone to be cleaned, e.g. CLEAN zone spilled coffee."
	case CleaningDone:
		return "DONE zone: the zone is clean again."
	}
	return "Commands: STATUS, STATUS zone, SUBSCRIBE zone, NOTIFY zone when free, UNSUBSCRIBE zone/all, CLEAN zone reason, DONE zone, HELP command. STOP: no texts."
}

// token is one word of a text: a run of letters, digits and marks.
type token struct {
	word       string // lower case
	start, end int    // bytes of the text
}

func (t token) text(s string) string { return s[t.start:t.end] }

func tokenize(s string) []token {
	var toks []token
	start := -1
	for i, c := range s {
		in := unicode.IsLetter(c) || unicode.IsDigit(c) || unicode.IsMark(c)
		switch {
		case in && start < 0:
			start = i
		case !in && start >= 0:
			toks = append(toks, token{word: strings.ToLower(s[start:i]), start: start, end: i})
			start = -1
		}
	}
	if start >= 0 {
		toks = append(toks, token{word: strings.ToLower(s[start:]), start: start, end: len(s)})
	}
	return toks
}

// joinWords is the key of a name: its words run together, so spacing and
// punctuation do not count.
func joinWords(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(t.word)
	}
	return b.String()
}

// maxDistance bounds every suggestion; allowed is the bound for a name of
// that length: short names are too easily confused to suggest loosely.
const maxDistance = 2

func allowed(key string) int {
	switch n := utf8.RuneCountInString(key); {
	case n < 3:
		return 0
	case n <= 5:
		return 1
	}
	return maxDistance
}

// nearestWord returns the one word of words within its allowed distance of
// w, closest first; "" when none is, or two are equally close.
func nearestWord(w string, words []string) string {
	best, found, tie := maxDistance+1, "", false
	for _, c := range words {
		d := distance(w, c)
		switch {
		case d > allowed(c) || d > best:
		case d < best:
			best, found, tie = d, c, false
		default:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return found
}

// maxRunes bounds the words compared for suggestions, which cost the product
// of their lengths.
const maxRunes = 32

// distance is the optimal string alignment distance between a and b, in
// runes: insertions, deletions, substitutions and swaps of neighbours each
// count one ("lobyb" is one from "lobby"). It is more than maxDistance for
// words too long to compare or too different in length.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > maxRunes || len(rb) > maxRunes || abs(len(ra)-len(rb)) > maxDistance {
		return maxDistance + 1
	}
	// Three rows of the dynamic programme: two back for swaps.
	prev2, prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// display is how a zone is named to people: its Name, or its ID.
func (z Zone) display() string {
	if z.Name != "" {
		return z.Name
	}
	return z.ID
}
