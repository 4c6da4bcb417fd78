package gitter

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

func TestRelay(t *testing.T) {
	f := newFixture(t, nil, Config{Backfill: -1, Relay: &RelayConfig{}})
	eventually(t, func() bool { return f.net.isRelayBot(f.bot.ID) }, "the relay bot was never identified")
	f.login(t)
	require.True(t, f.net.Info().Relay)
	zoe := &bridge.User{MXID: "@zoe:example.org", Permission: bridge.PermRelay}
	group := &bridge.Portal{Key: bridge.PortalKey{Network: "gitter", Chat: bridge.ChatID(f.room.ID)}}
	relay := func(portal *bridge.Portal, name string, content *event.MessageEventContent) (*bridge.MessageResult, error) {
		return f.net.HandleRelayMessage(f.ctx, &bridge.MatrixMessage{
			Portal: portal, Sender: zoe, Content: content, SenderName: name, Event: &event.Event{ID: "$relayed"},
		})
	}

	sends := []struct {
		name       string
		sender     string
		content    event.MessageEventContent
		want       string
		wantStatus bool
	}{
		{"a text is posted by the bot with the sender's name in bold", "Zoe Z",
			event.MessageEventContent{MsgType: event.MsgText, Body: "hello"}, "**Zoe Z**: hello", false},
		{"an emote is a status message after the sender's name", "Zoe Z",
			event.MessageEventContent{MsgType: event.MsgEmote, Body: "waves"}, "**Zoe Z** waves", true},
		{"HTML is converted to Gitter markdown", "Zoe Z",
			event.MessageEventContent{MsgType: event.MsgText, Body: "bold", Format: event.FormatHTML, FormattedBody: "<b>bold</b>"},
			"**Zoe Z**: **bold**", false},
		{"markdown in the sender's name is escaped", "z_o*e",
			event.MessageEventContent{MsgType: event.MsgText, Body: "hi"}, `**z\_o\*e**: hi`, false},
		{"a sender without a display name is posted under their localpart", "",
			event.MessageEventContent{MsgType: event.MsgText, Body: "anonymous"}, "**zoe**: anonymous", false},
	}
	var sent []string
	for _, tc := range sends {
		t.Run(tc.name, func(t *testing.T) {
			res, err := relay(group, tc.sender, &tc.content)
			require.NoError(t, err)
			var got *gitterapi.Message
			for _, m := range f.emu.Messages(f.room.ID) {
				if m.ID == string(res.ID) {
					got = &m
				}
			}
			require.NotNil(t, got, "the returned ID is the Gitter message's")
			sent = append(sent, got.ID)
			assert.Equal(t, f.bot.ID, got.FromUser.ID)
			assert.Equal(t, tc.want, got.Text)
			assert.Equal(t, tc.wantStatus, got.Status)
		})
	}

	refusals := []struct {
		name    string
		portal  func() *bridge.Portal
		content event.MessageEventContent
		want    string
	}{
		{"a room the bot is not in is refused for good", func() *bridge.Portal {
			r := f.emu.AddRoom("acme/private", "", gitterapi.RoomOrgChannel, f.alice.ID)
			return &bridge.Portal{Key: bridge.PortalKey{Network: "gitter", Chat: bridge.ChatID(r.ID)}}
		}, event.MessageEventContent{MsgType: event.MsgText, Body: "hi"}, "@relaybot is not in this Gitter room"},
		{"a one-to-one room is refused for good", func() *bridge.Portal {
			return &bridge.Portal{Key: bridge.PortalKey{Network: "gitter", Chat: bridge.ChatID(f.dm.ID), Receiver: "@alice:example.org"}, IsDM: true}
		}, event.MessageEventContent{MsgType: event.MsgText, Body: "hi"}, "one-to-one"},
		{"a file is refused for good", func() *bridge.Portal { return group },
			event.MessageEventContent{MsgType: event.MsgImage, Body: "cat.png"}, "not supported"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.emu.Messages(f.room.ID))
			_, err := relay(tc.portal(), "Zoe Z", &tc.content)
			require.ErrorIs(t, err, bridge.ErrPermanent)
			assert.Contains(t, err.Error(), tc.want)
			assert.Len(t, f.emu.Messages(f.room.ID), before)
		})
	}

	t.Run("the bot's messages and edits are not bridged back through a user's stream", func(t *testing.T) {
		require.NotEmpty(t, sent)
		f.emu.Edit(f.room.ID, f.bot.ID, sent[0], "**Zoe Z**: edited on Gitter")
		marker := f.emu.Post(f.room.ID, f.bob.ID, "marker")
		eventually(t, func() bool {
			for _, ev := range f.core.eventsOf(bridge.RemoteMessage) {
				if ev.ID == bridge.MessageID(marker.ID) {
					return true
				}
			}
			return false
		}, "bob's marker never arrived")
		for _, kind := range []bridge.RemoteEventKind{bridge.RemoteMessage, bridge.RemoteEdit} {
			for _, ev := range f.core.eventsOf(kind) {
				assert.NotEqual(t, bridge.RemoteUserID(f.bot.ID), ev.Sender.ID, "a %s of the bot was bridged", kind)
			}
		}
	})
	t.Run("the bot gets no ghost: not in member lists, presence or joins", func(t *testing.T) {
		for _, ev := range f.core.eventsOf(bridge.RemoteChatInfo) {
			for _, m := range ev.ChatInfo.Members {
				assert.NotEqual(t, bridge.RemoteUserID(f.bot.ID), m.ID)
			}
		}
		f.emu.SetPresence(f.room.ID, f.bot.ID, true)
		f.emu.Leave(f.room.ID, f.bot.ID)
		f.emu.SetPresence(f.room.ID, f.bob.ID, true)
		eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemotePresence)) > 0 }, "bob's presence never arrived")
		for _, kind := range []bridge.RemoteEventKind{bridge.RemotePresence, bridge.RemoteLeave} {
			for _, ev := range f.core.eventsOf(kind) {
				assert.NotEqual(t, bridge.RemoteUserID(f.bot.ID), ev.Sender.ID, "a %s of the bot was bridged", kind)
			}
		}
	})
	t.Run("a room the bot left is refused again", func(t *testing.T) {
		_, err := relay(group, "Zoe Z", &event.MessageEventContent{MsgType: event.MsgText, Body: "too late"})
		require.ErrorIs(t, err, bridge.ErrPermanent)
	})
}

func TestRelayWithoutAWorkingBot(t *testing.T) {
	const badToken = "not-a-real-relay-token-42"
	cases := []struct {
		name      string
		cfg       Config
		wantRelay bool
		want      string
	}{
		{"a network without a relay bot refuses to relay", Config{}, false, "has no relay bot"},
		{"a refused relay token is reported to the sender without the token", Config{Relay: &RelayConfig{Token: badToken}}, true,
			"Gitter refused the relay bot's token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, tc.cfg)
			assert.Equal(t, tc.wantRelay, f.net.Info().Relay)
			_, err := f.net.HandleRelayMessage(f.ctx, &bridge.MatrixMessage{
				Portal:  &bridge.Portal{Key: bridge.PortalKey{Network: "gitter", Chat: bridge.ChatID(f.room.ID)}},
				Sender:  &bridge.User{MXID: "@zoe:example.org"},
				Content: &event.MessageEventContent{MsgType: event.MsgText, Body: "hi"},
			})
			require.ErrorIs(t, err, bridge.ErrPermanent)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, fmt.Sprint(err, f.logs.String()), badToken)
		})
	}
}
