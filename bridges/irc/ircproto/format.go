package ircproto

import (
	"fmt"
	"strings"
)

// IRC formatting control codes. Bold, italic, underline, strikethrough,
// monospace and reverse toggle; reset clears everything.
const (
	FmtBold          = '\x02'
	FmtColor         = '\x03' // followed by fg[,bg], one or two digits each
	FmtHexColor      = '\x04' // followed by RRGGBB[,RRGGBB]
	FmtReset         = '\x0f'
	FmtMonospace     = '\x11'
	FmtReverse       = '\x16'
	FmtItalic        = '\x1d'
	FmtStrikethrough = '\x1e'
	FmtUnderline     = '\x1f'
)

// ColorDefault (99) is the palette index for "the client's default
// colour"; it parses as no colour.
const ColorDefault = 99

type colorKind uint8

const (
	colorNone colorKind = iota
	colorPalette
	colorRGB
)

// Color is a text or background colour: a palette index 0–98 from \x03,
// a 24-bit RGB value from \x04, or none (the zero value).
type Color struct {
	kind  colorKind
	value uint32
}

// PaletteColor returns palette colour n; 99 and anything outside 0–98
// give no colour.
func PaletteColor(n int) Color {
	if n < 0 || n >= ColorDefault {
		return Color{}
	}
	return Color{kind: colorPalette, value: uint32(n)}
}

// RGBColor returns a 24-bit colour (0xRRGGBB).
func RGBColor(rgb uint32) Color { return Color{kind: colorRGB, value: rgb & 0xffffff} }

// IsSet reports whether a colour is given.
func (c Color) IsSet() bool { return c.kind != colorNone }

// Palette returns the palette index, and false for RGB or no colour.
func (c Color) Palette() (int, bool) {
	return int(c.value), c.kind == colorPalette
}

// RGB returns the colour as 0xRRGGBB, mapping palette indices through
// the common palette (the 16 mIRC colours and the 83-entry extension).
// It returns false for no colour.
func (c Color) RGB() (uint32, bool) {
	switch c.kind {
	case colorPalette:
		return paletteRGB[c.value], true
	case colorRGB:
		return c.value, true
	}
	return 0, false
}

// Hex returns "#rrggbb", or "" for no colour; what HTML wants.
func (c Color) Hex() string {
	rgb, ok := c.RGB()
	if !ok {
		return ""
	}
	return fmt.Sprintf("#%06x", rgb)
}

// paletteRGB is the de facto palette: 0–15 as mIRC defined them, 16–98
// from the extended colour proposal that mIRC, WeeChat, irssi and others
// implement.
var paletteRGB = [ColorDefault]uint32{
	0xffffff, 0x000000, 0x00007f, 0x009300, 0xff0000, 0x7f0000, 0x9c009c, 0xfc7f00,
	0xffff00, 0x00fc00, 0x009393, 0x00ffff, 0x0000fc, 0xff00ff, 0x7f7f7f, 0xd2d2d2,
	0x470000, 0x472100, 0x474700, 0x324700, 0x004700, 0x00472c, 0x004747, 0x002747, 0x000047, 0x2e0047, 0x470047, 0x47002a,
	0x740000, 0x743a00, 0x747400, 0x517400, 0x007400, 0x007449, 0x007474, 0x004074, 0x000074, 0x4b0074, 0x740074, 0x740045,
	0xb50000, 0xb56300, 0xb5b500, 0x7db500, 0x00b500, 0x00b571, 0x00b5b5, 0x0063b5, 0x0000b5, 0x7500b5, 0xb500b5, 0xb5006b,
	0xff0000, 0xff8c00, 0xffff00, 0xb2ff00, 0x00ff00, 0x00ffa0, 0x00ffff, 0x008cff, 0x0000ff, 0xa500ff, 0xff00ff, 0xff0098,
	0xff5959, 0xffb459, 0xffff71, 0xcfff60, 0x6fff6f, 0x65ffc9, 0x6dffff, 0x59b4ff, 0x5959ff, 0xc459ff, 0xff66ff, 0xff59bc,
	0xff9c9c, 0xffd39c, 0xffff9c, 0xe2ff9c, 0x9cff9c, 0x9cffdb, 0x9cffff, 0x9cd3ff, 0x9c9cff, 0xdc9cff, 0xff9cff, 0xff94d3,
	0x000000, 0x131313, 0x282828, 0x363636, 0x4d4d4d, 0x656565, 0x818181, 0x9f9f9f, 0xbcbcbc, 0xe2e2e2, 0xffffff,
}

// Style is the formatting in effect for a run of text.
type Style struct {
	Bold          bool
	Italic        bool
	Underline     bool
	Strikethrough bool
	Monospace     bool
	// Reverse swaps foreground and background; it is kept as a flag
	// because the colours it swaps may be the client's defaults.
	Reverse bool
	Fg      Color
	Bg      Color
}

// IsPlain reports whether the style has no formatting at all.
func (s Style) IsPlain() bool { return s == Style{} }

// Span is a run of text in one style.
type Span struct {
	Text  string
	Style Style
}

// ParseFormatting turns IRC-formatted text into spans of plain text with
// their styles. Neighbouring text in the same style is one span, and
// spans are never empty. Text that is not formatting (including other
// control characters) is kept as it is.
func ParseFormatting(s string) []Span {
	var spans []Span
	var style Style
	add := func(text string) {
		if text == "" {
			return
		}
		// Codes that change nothing or cancel out ("\x02\x02") leave
		// neighbouring runs in one style: they make one span.
		if n := len(spans); n > 0 && spans[n-1].Style == style {
			spans[n-1].Text += text
			return
		}
		spans = append(spans, Span{Text: text, Style: style})
	}
	start := 0 // start of the text since the last code
	for i := 0; i < len(s); {
		code, n := scanCode(s, i)
		if n == 0 {
			i++
			continue
		}
		add(s[start:i])
		style = code.apply(style)
		i += n
		start = i
	}
	add(s[start:])
	return spans
}

// StripFormatting removes all formatting codes, colour numbers included.
func StripFormatting(s string) string {
	i := strings.IndexAny(s, "\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f")
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		if _, n := scanCode(s, i); n > 0 {
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// formatCode is one parsed control sequence.
type formatCode struct {
	c      byte
	fg, bg Color
	hasFg  bool
	hasBg  bool
}

// scanCode reads the formatting code at s[i], returning its length, or 0
// if s[i] is not a formatting code.
func scanCode(s string, i int) (formatCode, int) {
	code := formatCode{c: s[i]}
	switch s[i] {
	case FmtBold, FmtReset, FmtMonospace, FmtReverse, FmtItalic, FmtStrikethrough, FmtUnderline:
		return code, 1
	case FmtColor:
		n := 1
		fg, d := scanDigits(s[i+n:])
		if d == 0 {
			return code, n // bare: reset colours
		}
		code.fg, code.hasFg = PaletteColor(fg), true
		n += d
		if i+n+1 < len(s) && s[i+n] == ',' && isDigit(s[i+n+1]) {
			bg, d := scanDigits(s[i+n+1:])
			code.bg, code.hasBg = PaletteColor(bg), true
			n += 1 + d
		}
		return code, n
	case FmtHexColor:
		n := 1
		fg, ok := scanHex(s[i+n:])
		if !ok {
			return code, n
		}
		code.fg, code.hasFg = RGBColor(fg), true
		n += 6
		if i+n < len(s) && s[i+n] == ',' {
			if bg, ok := scanHex(s[i+n+1:]); ok {
				code.bg, code.hasBg = RGBColor(bg), true
				n += 7
			}
		}
		return code, n
	}
	return code, 0
}

// scanDigits reads one or two decimal digits.
func scanDigits(s string) (value, n int) {
	for n < 2 && n < len(s) && isDigit(s[n]) {
		value = value*10 + int(s[n]-'0')
		n++
	}
	return value, n
}

// scanHex reads exactly six hex digits.
func scanHex(s string) (uint32, bool) {
	if len(s) < 6 {
		return 0, false
	}
	var v uint32
	for i := 0; i < 6; i++ {
		c := s[i]
		switch {
		case isDigit(c):
			v = v<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint32(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | uint32(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func (c formatCode) apply(s Style) Style {
	switch c.c {
	case FmtBold:
		s.Bold = !s.Bold
	case FmtItalic:
		s.Italic = !s.Italic
	case FmtUnderline:
		s.Underline = !s.Underline
	case FmtStrikethrough:
		s.Strikethrough = !s.Strikethrough
	case FmtMonospace:
		s.Monospace = !s.Monospace
	case FmtReverse:
		s.Reverse = !s.Reverse
	case FmtReset:
		s = Style{}
	case FmtColor, FmtHexColor:
		if !c.hasFg {
			s.Fg, s.Bg = Color{}, Color{}
			break
		}
		s.Fg = c.fg
		if c.hasBg {
			s.Bg = c.bg
		}
	}
	return s
}
