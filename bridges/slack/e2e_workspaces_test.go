package slack_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
)

// Globex is the second workspace. It reuses Acme's IDs on purpose: its
// #general has Acme's channel ID and its U001 is Gina, not Alice. Slack
// IDs are unique only within a workspace, so nothing but the workspace
// may tell them apart.
const (
	globexTeam     = "T0002"
	globexAlice    = "U005"
	globexGina     = "U001"
	globexAliceTok = "xoxp-e2e-alice-globex"
)

// TestEndToEndWorkspaces is one Matrix user in two workspaces at once, as
// with real Slack: both behind one API URL (slackemu.Front), the token
// deciding the workspace. Alice logs into Acme and Globex; each
// workspace's #general is a portal of its own in that workspace's space,
// messages and DMs stay in their workspace both ways, and logging out of
// Globex leaves Acme working.
func TestEndToEndWorkspaces(t *testing.T) {
	w := newAcme(t)
	globex := slackemu.New(t, globexTeam, "Globex")
	globex.AddUser(slackemu.User{ID: globexGina, Name: "gina", Profile: slackemu.UserProfile{DisplayName: "Gina"}})
	globex.AddUser(slackemu.User{ID: globexAlice, Name: "alice"})
	globex.AddToken(slackemu.Token{Value: globexAliceTok, User: globexAlice})
	globex.AddConversation(slackemu.Conversation{ID: w.general, Name: "general", Members: []string{globexGina, globexAlice}})
	front := slackemu.NewFront(t, w.emu, globex)
	w.start(front.APIURL(), func(o *bridgeworld.Options) { o.Bridge = map[string]any{"spaces": true} })

	ctx := context.Background()
	gina := w.teamGhost(globexTeam, globexGina)
	var acmeSpace, globexSpace, acmeRoom, globexRoom id.RoomID

	t.Run("logging in twice gives two logins, each in its own space", func(t *testing.T) {
		w := w.in(t)
		alice := w.aliceUser()
		assert.Contains(t, w.command("login slack "+e2eAliceTok), "alice on Acme")
		acmeSpace = alice.JoinSpaceInvite()
		assert.Contains(t, w.command("login slack "+globexAliceTok), "alice on Globex")
		globexSpace = alice.JoinSpaceInvite()
		assert.Equal(t, "Acme", w.roomName(acmeSpace))
		assert.Equal(t, "Globex", w.roomName(globexSpace))
		w.waitSlack("an RTM connection in each workspace", func() bool {
			return w.emu.RTMConnections("U001") == 1 && globex.RTMConnections(globexAlice) == 1
		})
		w.waitStatus("both logins connected", func(status string) bool {
			return strings.Contains(status, "slack:T0001 as alice on Acme: connected") && strings.Contains(status, "slack:T0002 as alice on Globex: connected")
		})
	})

	t.Run("each workspace's #general is a room of its own, aliased and placed by workspace", func(t *testing.T) {
		w := w.in(t)
		alice := w.aliceUser()
		acmeRoom = w.joinPortal(w.general)
		globexRoom = w.joinTeamPortalAs(w.alice, globexTeam, w.general)
		require.NotEqual(t, acmeRoom, globexRoom, "one channel ID in two workspaces is two portals")
		assert.Equal(t, w.aliases.Alias(e2eTeam+"-"+w.general), w.canonicalAlias(acmeRoom))
		assert.Equal(t, w.aliases.Alias(globexTeam+"-"+w.general), w.canonicalAlias(globexRoom))
		// Both rooms are named as the channel is; what tells them apart in
		// a client is the space they are in, named after the workspace.
		assert.Equal(t, "general", w.roomName(acmeRoom))
		assert.Equal(t, "general", w.roomName(globexRoom))
		require.Eventually(t, func() bool { return alice.InSpace(acmeSpace, acmeRoom) && alice.InSpace(globexSpace, globexRoom) },
			waitLimit, 200*time.Millisecond, "the portals are not in their workspaces' spaces")
		assert.False(t, alice.InSpace(acmeSpace, globexRoom), "Globex's #general is in the Acme space")
		assert.False(t, alice.InSpace(globexSpace, acmeRoom), "Acme's #general is in the Globex space")
	})

	t.Run("a Globex message arrives only in the Globex portal, from the Globex ghost", func(t *testing.T) {
		w := w.in(t)
		globex.Post(w.general, globexGina, "hello from Globex", "")
		w.waitFor(globexRoom, "gina's message", from(gina, "hello from Globex"))
		name, err := w.alice.GetDisplayName(ctx, gina)
		require.NoError(t, err)
		assert.Equal(t, "Gina", name.DisplayName, "Globex's U001 is Gina, not Acme's U001 (Alice)")
		assert.Zero(t, w.countAfterMarker(acmeRoom, withBody("hello from Globex")), "the Acme portal got it too")
	})

	t.Run("Alice's Matrix messages reach their own workspace as her user there", func(t *testing.T) {
		w := w.in(t)
		_, err := w.alice.SendText(ctx, acmeRoom, "hello Acme from Matrix")
		require.NoError(t, err)
		w.slackMessage(w.general, "the Acme message", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "hello Acme from Matrix" })
		_, err = w.alice.SendText(ctx, globexRoom, "hello Globex from Matrix")
		require.NoError(t, err)
		w.slackMessageIn(globex, w.general, "the Globex message", func(m slackemu.Message) bool {
			return m.User == globexAlice && m.Text == "hello Globex from Matrix"
		})
		globexMarker(w, globex, globexRoom)
		assert.False(t, posted(globex, "hello Acme from Matrix"), "the Acme message reached Globex")
		assert.False(t, posted(w.emu, "hello Globex from Matrix"), "the Globex message reached Acme")
		assert.Equal(t, 1, w.countAfterMarker(acmeRoom, withBody("hello Acme from Matrix")), "the Acme message is in its portal once")
	})

	t.Run("files cross both ways with the Globex login, on the shared host", func(t *testing.T) {
		w := w.in(t)
		plan := []byte("globex plan")
		f := globex.AddFile(globexGina, "plan.txt", plan)
		require.True(t, strings.HasPrefix(f.URLPrivate, strings.TrimSuffix(front.APIURL(), "api/")), "the file is served where the API is")
		globex.PostMessage(w.general, slackemu.Message{Subtype: "file_share", User: globexGina, Files: []slackemu.File{f}, Upload: true})
		evt := w.waitFor(globexRoom, "gina's file", from(gina, "plan.txt"))
		uri, err := evt.Content.AsMessage().URL.Parse()
		require.NoError(t, err)
		data, err := w.alice.DownloadBytes(ctx, uri)
		require.NoError(t, err)
		assert.Equal(t, plan, data, "fetched with the Globex login's token")

		up, err := w.alice.UploadBytes(ctx, []byte("globex minutes"), "text/plain")
		require.NoError(t, err)
		_, err = w.alice.SendMessageEvent(ctx, globexRoom, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgFile, Body: "minutes.txt", URL: up.ContentURI.CUString(), Info: &event.FileInfo{MimeType: "text/plain"},
		})
		require.NoError(t, err)
		msg := w.slackMessageIn(globex, w.general, "alice's file", func(m slackemu.Message) bool {
			return m.User == globexAlice && len(m.Files) == 1 && m.Files[0].Name == "minutes.txt"
		})
		got, ok := globex.FileData(msg.Files[0].ID)
		require.True(t, ok)
		assert.Equal(t, "globex minutes", string(got))
	})

	t.Run("a Globex DM is a direct chat of that workspace and the answer goes back through Globex", func(t *testing.T) {
		w := w.in(t)
		alice := w.aliceUser()
		dm := globex.AddConversation(slackemu.Conversation{ID: "D0GINA", Kind: slackemu.IM, Members: []string{globexAlice, globexGina}})
		globex.Post(dm, globexGina, "psst, alice", "")
		room := w.directInvite()
		_, err := w.alice.JoinRoomByID(ctx, room)
		require.NoError(t, err)
		w.waitFor(room, "gina's DM", from(gina, "psst, alice"))
		require.Eventually(t, func() bool { return alice.InSpace(globexSpace, room) }, waitLimit, 200*time.Millisecond, "the DM is not in the Globex space")
		assert.False(t, alice.InSpace(acmeSpace, room), "the Globex DM is in the Acme space")

		_, err = w.alice.SendText(ctx, room, "hi gina")
		require.NoError(t, err)
		w.slackMessageIn(globex, dm, "alice's answer", func(m slackemu.Message) bool { return m.User == globexAlice && m.Text == "hi gina" })
		assert.False(t, posted(w.emu, "hi gina"), "the answer went through the Acme login")
	})

	t.Run("logging out of Globex ends only the Globex login", func(t *testing.T) {
		w := w.in(t)
		assert.Contains(t, w.command("logout slack:"+globexTeam), "Logged out of slack:"+globexTeam)
		w.waitSlack("the Globex RTM connection closed", func() bool { return globex.RTMConnections(globexAlice) == 0 })
		status := w.command("status")
		assert.Contains(t, status, "slack:T0001 as alice on Acme: connected")
		assert.NotContains(t, status, "Globex")
		assert.Equal(t, 1, w.emu.RTMConnections("U001"), "the Acme login was touched")
		assert.False(t, globex.Revoked(globexAliceTok), "a plain logout revoked the token")
	})

	t.Run("after it Acme works both ways and the Globex portal reaches no workspace", func(t *testing.T) {
		w := w.in(t)
		w.emu.Post(w.general, "U002", "still here", "")
		w.waitFor(acmeRoom, "bob's message", from(w.ghost("U002"), "still here"))
		_, err := w.alice.SendText(ctx, acmeRoom, "me too")
		require.NoError(t, err)
		w.slackMessage(w.general, "alice's message", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "me too" })

		_, err = w.alice.SendText(ctx, globexRoom, "anyone at Globex?")
		require.NoError(t, err)
		w.waitFor(globexRoom, "the error notice", func(evt *event.Event) bool {
			return evt.Sender == bridgeworld.BotMXID() && strings.Contains(body(evt), "not delivered")
		})
		assert.False(t, posted(globex, "anyone at Globex?"), "it reached Globex without a login")
		assert.False(t, posted(w.emu, "anyone at Globex?"), "it reached Acme (through the Acme app?)")
	})
}

// waitStatus asks "status" until the answer is as expected.
func (w *world) waitStatus(what string, ok func(status string) bool) {
	w.t.Helper()
	var status string
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if status = w.command("status"); ok(status) {
			return
		}
	}
	w.t.Fatalf("status never showed %s; last:\n%s", what, status)
}

// roomName is a room's m.room.name.
func (w *world) roomName(room id.RoomID) string {
	w.t.Helper()
	var name event.RoomNameEventContent
	require.NoError(w.t, w.alice.StateEvent(context.Background(), room, event.StateRoomName, "", &name))
	return name.Name
}

// canonicalAlias is a room's m.room.canonical_alias.
func (w *world) canonicalAlias(room id.RoomID) id.RoomAlias {
	w.t.Helper()
	var alias event.CanonicalAliasEventContent
	require.NoError(w.t, w.alice.StateEvent(context.Background(), room, event.StateCanonicalAlias, "", &alias))
	return alias.Alias
}

// globexMarker has Gina post a marker in Globex's #general and waits for it
// in the room, so that what Globex sent before it has been bridged.
func globexMarker(w *world, globex *slackemu.Server, room id.RoomID) {
	w.t.Helper()
	marker := "globex marker " + time.Now().Format(time.RFC3339Nano)
	globex.Post(w.general, globexGina, marker, "")
	w.waitFor(room, marker, from(w.teamGhost(globexTeam, globexGina), marker))
}

// posted says whether anyone asked the workspace to post the text.
func posted(emu *slackemu.Server, text string) bool {
	return slices.ContainsFunc(emu.CallsTo("chat.postMessage"), func(c slackemu.Call) bool { return c.Params["text"] == text })
}
