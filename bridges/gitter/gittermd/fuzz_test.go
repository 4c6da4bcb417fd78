package gittermd_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gittermd"
)

// FuzzToMatrix feeds arbitrary Gitter text through both directions: no
// panic, the body is the text, every mention is one the resolver made, and
// valid UTF-8 stays valid.
func FuzzToMatrix(f *testing.F) {
	for _, tc := range readCases(f, "to_matrix.txt") {
		f.Add(tc.input)
	}
	f.Add("@")
	f.Add("@@bob")
	f.Add("[@bob](https://x) ![@bob](y)")
	f.Add("| @bob |\n|---|\n| `|` |")
	f.Fuzz(func(t *testing.T, text string) {
		m := gittermd.ToMatrix(text, resolveGitter)
		if m.Body != text {
			t.Fatalf("body %q is not the text %q", m.Body, text)
		}
		for _, u := range m.Mentions {
			if !strings.HasPrefix(string(u), "@gitter_") {
				t.Fatalf("mention %q was not made by the resolver", u)
			}
		}
		back := gittermd.ToGitter(m.Body, m.HTML, resolveMatrix)
		if utf8.ValidString(text) && (!utf8.ValidString(m.HTML) || !utf8.ValidString(back)) {
			t.Fatalf("valid UTF-8 %q became invalid: %q / %q", text, m.HTML, back)
		}
	})
}

// FuzzToGitter feeds arbitrary HTML to the Matrix-to-Gitter direction.
func FuzzToGitter(f *testing.F) {
	for _, tc := range readCases(f, "to_gitter.txt") {
		f.Add(tc.input)
	}
	f.Add("<table><tr><td><table><tr><td>x</td></tr></table></td></tr></table>")
	f.Add("<mx-reply><mx-reply></mx-reply>")
	f.Fuzz(func(t *testing.T, formatted string) {
		out := gittermd.ToGitter("body", formatted, resolveMatrix)
		if utf8.ValidString(formatted) && !utf8.ValidString(out) {
			t.Fatalf("valid UTF-8 %q became invalid: %q", formatted, out)
		}
	})
}
