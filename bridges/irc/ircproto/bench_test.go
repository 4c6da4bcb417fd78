package ircproto_test

import (
	"testing"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// A typical line from an IRCv3 server: a few tags, a full source, text.
const benchLine = "@time=2011-10-19T16:40:51.620Z;account=alice;msgid=63E1033A051D4B41B1AB1FA3CF4B243E " +
	":alice!alice@user/alice PRIVMSG #isthmus :has anyone tried bridging this channel to Matrix yet?\r\n"

// The common line without tags, as from a server without message-tags.
const benchPlainLine = ":alice!alice@user/alice PRIVMSG #isthmus :has anyone tried bridging this channel to Matrix yet?\r\n"

func BenchmarkParse(b *testing.B) {
	b.Run("with tags", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ircproto.Parse(benchLine); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("without tags", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ircproto.Parse(benchPlainLine); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkString(b *testing.B) {
	m, err := ircproto.Parse(benchLine)
	if err != nil {
		b.Fatal(err)
	}
	plain := ircproto.NewMessage("PRIVMSG", "#isthmus", "has anyone tried bridging this channel to Matrix yet?")
	b.Run("with tags", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = m.String()
		}
	})
	b.Run("outbound bytes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := plain.Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
