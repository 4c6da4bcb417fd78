package mrkdwn_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"golang.org/x/net/html"

	"github.com/isthmus-bridge/isthmus/bridges/slack/mrkdwn"
)

var allowedTags = map[string]bool{
	"strong": true, "em": true, "del": true, "code": true, "pre": true,
	"blockquote": true, "ul": true, "ol": true, "li": true, "br": true, "a": true,
}

// FuzzToMatrix checks what Slack text can make of Matrix HTML: only the
// tags the converter writes, links only to web, mail and matrix.to URLs,
// and valid UTF-8 out of valid UTF-8 in. Whatever a Slack user types must
// not become markup a Matrix client would treat differently.
func FuzzToMatrix(f *testing.F) {
	for _, seed := range []string{
		"*bold* _it_ ~s~ `c`", "```pre```", "&gt; q", "• a\n1. b", "<@U1> <#C1|x> <!here>",
		"<https://x.org|y>", "<javascript:alert(1)|x>", "<\"onmouseover=x>", "*_~`<&>", "<a href=x>",
		":smile: <@U1|a\"b>",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m := mrkdwn.ToMatrix(in, testResolver())
		if utf8.ValidString(in) && (!utf8.ValidString(m.Plain) || !utf8.ValidString(m.HTML)) {
			t.Fatalf("invalid UTF-8 out of %q", in)
		}
		checkHTML(t, in, m.HTML, allowedTags)
	})
}

// checkHTML fails when html has a tag outside allowed, an attribute other
// than a link's href (or an ordered list's start), or a link anywhere but
// to a web, mail or matrix.to URL.
func checkHTML(t *testing.T, in, body string, allowed map[string]bool) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(body))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.EndTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		if !allowed[tok.Data] {
			t.Fatalf("tag %q out of %q: %s", tok.Data, in, body)
		}
		for _, a := range tok.Attr {
			if tok.Data == "ol" && a.Key == "start" {
				continue
			}
			if a.Key != "href" || tok.Data != "a" {
				t.Fatalf("attribute %q on %q out of %q", a.Key, tok.Data, in)
			}
			lower := strings.ToLower(a.Val)
			if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "mailto:") {
				t.Fatalf("link to %q out of %q", a.Val, in)
			}
		}
	}
}

// FuzzMessageToMatrix feeds messages (JSON, as Slack sends them) to the
// whole-message converter: blocks and attachments may only produce the
// tags of message text plus a header, a rule and underlining, with the
// same link rules, and never panic.
func FuzzMessageToMatrix(f *testing.F) {
	for _, c := range readMessages(f) {
		f.Add(c.raw)
	}
	blockTags := map[string]bool{"h3": true, "hr": true, "u": true}
	for tag := range allowedTags {
		blockTags[tag] = true
	}
	f.Fuzz(func(t *testing.T, in string) {
		var msg slack.Msg
		if json.Unmarshal([]byte(in), &msg) != nil {
			return
		}
		m := mrkdwn.MessageToMatrix(&msg, testResolver())
		checkHTML(t, in, m.HTML, blockTags)
	})
}

// slackRef is a reference FromMatrix may write: a resolved user or
// channel, or a web or mail link with an optional label.
var slackRef = regexp.MustCompile(`<(@U\d+|#C\d+|(?i:https?|mailto):[^<>|\s]*(\|[^<>]*)?)>`)

// FuzzFromMatrix checks that Matrix HTML cannot smuggle a Slack reference
// (<!channel>, <@U…> of someone else) into the text: every "<" or ">" left
// is part of a reference the converter wrote itself. A room mention only
// turns words "@room" into <!channel> and changes nothing else.
func FuzzFromMatrix(f *testing.F) {
	for _, seed := range []string{
		"<b>x</b>", "&lt;!channel&gt;", "<a href=\"https://x.org/>|<!here>\">t</a>",
		"<a href=\"https://matrix.to/#/@alice:example.org\">A</a>", "<pre><code>&lt;@U1&gt;</code></pre>",
		"<ol><li><ul><li>x</li></ul></li></ol>", "<blockquote><blockquote>x</blockquote></blockquote>",
		"<a href=\"mailto:a@b\">&lt;x&gt;</a>", "<a>no href</a>", "<img alt=\"<!here>\">",
		"@room <b>@room</b> <code>@room</code> x@room",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		quiet := testResolver()
		quiet.RoomMention = false
		out := mrkdwn.FromMatrix(in, quiet)
		rest := slackRef.ReplaceAllString(out, "")
		if strings.ContainsAny(rest, "<>") {
			t.Fatalf("stray angle bracket in %q out of %q", out, in)
		}
		loud := mrkdwn.FromMatrix(in, testResolver())
		if back := strings.ReplaceAll(loud, "<!channel>", "@room"); back != out {
			t.Fatalf("the room mention changed more than @room: %q against %q, out of %q", loud, out, in)
		}
		if plain := mrkdwn.FromMatrixPlain(in); strings.ContainsAny(plain, "<>") {
			t.Fatalf("plain conversion kept an angle bracket: %q", plain)
		}
	})
}

// BenchmarkToMatrixHostile measures inputs built to make the inline
// parser search again and again: openers without closers and deep nests.
func BenchmarkToMatrixHostile(b *testing.B) {
	inputs := map[string]string{
		"openers":   strings.Repeat("*a _b ~c ", 4000),
		"nesting":   strings.Repeat("*_~", 3000) + "x" + strings.Repeat("~_*", 3000),
		"refs":      strings.Repeat("<@U1> *", 4000),
		"codespans": strings.Repeat("`*` ", 8000),
	}
	for name, in := range inputs {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				mrkdwn.ToMatrix(in, testResolver())
			}
		})
	}
}
