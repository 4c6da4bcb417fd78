package ircproto_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

var (
	red    = ircproto.PaletteColor(4)
	blue   = ircproto.PaletteColor(12)
	brown  = ircproto.PaletteColor(5)
	purple = ircproto.PaletteColor(6)
)

func TestParseFormatting(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []ircproto.Span
		plain string
	}{
		{
			name: "plain text is one unstyled span", in: "hello",
			want:  []ircproto.Span{{Text: "hello"}},
			plain: "hello",
		},
		{
			name: "bold toggles on and off", in: "\x02bold\x02 normal",
			want:  []ircproto.Span{{Text: "bold", Style: ircproto.Style{Bold: true}}, {Text: " normal"}},
			plain: "bold normal",
		},
		{
			name: "every toggle sets its attribute and reset clears them all",
			in:   "\x02\x1d\x1f\x1e\x11\x16all\x0fnone",
			want: []ircproto.Span{
				{Text: "all", Style: ircproto.Style{Bold: true, Italic: true, Underline: true, Strikethrough: true, Monospace: true, Reverse: true}},
				{Text: "none"},
			},
			plain: "allnone",
		},
		{
			name: "a foreground colour applies until a bare colour code", in: "\x0304red\x03 plain",
			want:  []ircproto.Span{{Text: "red", Style: ircproto.Style{Fg: red}}, {Text: " plain"}},
			plain: "red plain",
		},
		{
			name: "one-digit colours and a background parse", in: "\x034,12x",
			want:  []ircproto.Span{{Text: "x", Style: ircproto.Style{Fg: red, Bg: blue}}},
			plain: "x",
		},
		{
			name: "at most two digits belong to a colour", in: "\x031234",
			want:  []ircproto.Span{{Text: "34", Style: ircproto.Style{Fg: blue}}},
			plain: "34",
		},
		{
			name: "a comma without a digit after it is text", in: "\x0304,x",
			want:  []ircproto.Span{{Text: ",x", Style: ircproto.Style{Fg: red}}},
			plain: ",x",
		},
		{
			name: "a colour code starting with a comma is a bare reset", in: "\x0304a\x03,12b",
			want:  []ircproto.Span{{Text: "a", Style: ircproto.Style{Fg: red}}, {Text: ",12b"}},
			plain: "a,12b",
		},
		{
			name: "a foreground-only code keeps the background", in: "\x0304,05a\x0306b",
			want: []ircproto.Span{
				{Text: "a", Style: ircproto.Style{Fg: red, Bg: brown}},
				{Text: "b", Style: ircproto.Style{Fg: purple, Bg: brown}},
			},
			plain: "ab",
		},
		{
			name: "colour 99 means the default colour", in: "\x0399,99x",
			want:  []ircproto.Span{{Text: "x"}},
			plain: "x",
		},
		{
			name: "hex colours set RGB foreground and background", in: "\x04FF8800,00ff00x\x04y",
			want: []ircproto.Span{
				{Text: "x", Style: ircproto.Style{Fg: ircproto.RGBColor(0xff8800), Bg: ircproto.RGBColor(0x00ff00)}},
				{Text: "y"},
			},
			plain: "xy",
		},
		{
			name: "a hex code without six hex digits is a bare reset", in: "\x04GGGGGGx",
			want:  []ircproto.Span{{Text: "GGGGGGx"}},
			plain: "GGGGGGx",
		},
		{
			name: "reset clears colours too", in: "\x02\x0304a\x0fb",
			want:  []ircproto.Span{{Text: "a", Style: ircproto.Style{Bold: true, Fg: red}}, {Text: "b"}},
			plain: "ab",
		},
		{
			name: "codes that cancel out leave one span", in: "a\x02\x02b",
			want:  []ircproto.Span{{Text: "ab"}},
			plain: "ab",
		},
		{
			name: "a trailing code makes no empty span", in: "a\x02",
			want:  []ircproto.Span{{Text: "a"}},
			plain: "a",
		},
		{
			name: "a colour code at the very end is dropped", in: "a\x03",
			want:  []ircproto.Span{{Text: "a"}},
			plain: "a",
		},
		{
			name: "other control characters are text", in: "a\x07b\x01",
			want:  []ircproto.Span{{Text: "a\x07b\x01"}},
			plain: "a\x07b\x01",
		},
		{
			name: "multi-byte text keeps its styles", in: "\x1dé中🌍\x1d",
			want:  []ircproto.Span{{Text: "é中🌍", Style: ircproto.Style{Italic: true}}},
			plain: "é中🌍",
		},
		{
			name: "an empty string has no spans", in: "",
			want:  nil,
			plain: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ircproto.ParseFormatting(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.plain, ircproto.StripFormatting(tt.in))
			var joined strings.Builder
			for _, s := range got {
				assert.NotEmpty(t, s.Text, "spans are never empty")
				joined.WriteString(s.Text)
			}
			assert.Equal(t, tt.plain, joined.String(), "spans hold exactly the stripped text")
		})
	}
}

func TestColor(t *testing.T) {
	tests := []struct {
		name    string
		color   ircproto.Color
		set     bool
		hex     string
		palette int
		isPal   bool
	}{
		{"palette red maps to its RGB", ircproto.PaletteColor(4), true, "#ff0000", 4, true},
		{"white is colour 0", ircproto.PaletteColor(0), true, "#ffffff", 0, true},
		{"the extended palette is covered", ircproto.PaletteColor(52), true, "#ff0000", 52, true},
		{"the last extended colour is white", ircproto.PaletteColor(98), true, "#ffffff", 98, true},
		{"colour 99 is no colour", ircproto.PaletteColor(99), false, "", 0, false},
		{"a negative index is no colour", ircproto.PaletteColor(-1), false, "", 0, false},
		{"an RGB colour keeps its value", ircproto.RGBColor(0x123456), true, "#123456", 0x123456, false},
		{"an RGB colour is masked to 24 bits", ircproto.RGBColor(0xff123456), true, "#123456", 0x123456, false},
		{"the zero colour is none", ircproto.Color{}, false, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.set, tt.color.IsSet())
			assert.Equal(t, tt.hex, tt.color.Hex())
			idx, ok := tt.color.Palette()
			assert.Equal(t, tt.isPal, ok)
			if ok {
				assert.Equal(t, tt.palette, idx)
			}
		})
	}
}

func TestStyleIsPlain(t *testing.T) {
	assert.True(t, ircproto.Style{}.IsPlain())
	assert.False(t, ircproto.Style{Bold: true}.IsPlain())
	assert.False(t, ircproto.Style{Bg: ircproto.PaletteColor(1)}.IsPlain())
}

func TestStripFormattingLeavesPlainTextAlone(t *testing.T) {
	s := "nothing to strip, not even \x01CTCP\x01"
	assert.Equal(t, s, ircproto.StripFormatting(s))
}
