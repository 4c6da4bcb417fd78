package bridge

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"
)

// command is one management-room command.
type command struct {
	name string
	args string
	help string
	perm Permission
	run  func(ctx context.Context, cc *commandContext) error
}

type commandContext struct {
	br   *Bridge
	user *User
	room id.RoomID
	evt  *event.Event
	args []string
}

func (cc *commandContext) reply(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	content := formatNotice(text)
	if _, err := cc.br.AS.BotIntent().SendMessageEvent(context.WithoutCancel(context.Background()), cc.room, event.EventMessage, content); err != nil {
		cc.br.Log.Err(err).Msg("Failed to reply to command")
	}
}

func formatNotice(markdown string) *event.MessageEventContent {
	c := format.RenderMarkdown(markdown, true, false)
	c.MsgType = event.MsgNotice
	return &c
}

var commands []*command

func init() {
	commands = []*command{
		{name: "help", help: "Show this list.", perm: PermRelay, run: cmdHelp},
		{name: "status", help: "Show your sessions and their states.", perm: PermRelay, run: cmdStatus},
		{name: "login", args: "<network> ...", help: "Log in to a network as yourself (e.g. `login slack xoxp-...`).", perm: PermUser, run: cmdLogin},
		{name: "logout", args: "<network>[:<login>] [revoke]", help: "Log out of a network; `revoke` also invalidates the token there.", perm: PermUser, run: cmdLogout},
		{name: "nick", args: "<network> <nick>", help: "Pick your nick on a network with nicks (IRC); a stored password is kept.", perm: PermRelay, run: cmdNick},
		{name: "login-matrix", args: "<access token>", help: "Use your own Matrix account for what you do on the remote side (double puppeting).", perm: PermUser, run: cmdLoginMatrix},
		{name: "logout-matrix", help: "Stop double puppeting.", perm: PermUser, run: cmdLogoutMatrix},
		{name: "list", help: "List the bridged rooms.", perm: PermRelay, run: cmdList},
		{name: "reject-invites", help: "Reject every pending invite the bridge sent you.", perm: PermRelay, run: cmdRejectInvites},
		{name: "link", args: "<network> <chat> <room ID>", help: "Bridge an existing Matrix room to a remote chat.", perm: PermAdmin, run: cmdLink},
		{name: "unlink", args: "<room ID>", help: "Stop bridging a room.", perm: PermAdmin, run: cmdUnlink},
	}
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// handleCommand runs a command sent in a management room. Secrets in the
// arguments (tokens, passwords) are never logged: only the command name is.
func (br *Bridge) handleCommand(ctx context.Context, evt *event.Event) error {
	content := evt.Content.AsMessage()
	if content == nil || content.MsgType != event.MsgText {
		return nil
	}
	fields := strings.Fields(content.Body)
	if len(fields) == 0 {
		return nil
	}
	name := strings.ToLower(fields[0])
	name = strings.TrimPrefix(name, "!")
	user, err := br.userFor(ctx, evt.Sender)
	if err != nil {
		return err
	}
	cc := &commandContext{br: br, user: user, room: evt.RoomID, evt: evt, args: fields[1:]}
	cmd := findCommand(name)
	if strings.HasPrefix(name, "login") || (cmd == nil && looksSecret(content.Body)) {
		// Credentials must not stay in the room's history, whatever is
		// wrong with the rest of the command.
		if _, err := br.AS.BotIntent().RedactEvent(ctx, evt.RoomID, evt.ID, mautrix.ReqRedact{Reason: "may contain credentials"}); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to redact a command with credentials")
		}
	}
	if cmd == nil {
		// The text may be a pasted token: it is neither logged nor echoed.
		zerolog.Ctx(ctx).Info().Str("command", "(unknown)").Str("user_id", evt.Sender.String()).Msg("Management command")
		cc.reply("Unknown command.\n\n%s", helpText(user.Permission))
		return nil
	}
	zerolog.Ctx(ctx).Info().Str("command", name).Str("user_id", evt.Sender.String()).Msg("Management command")
	if user.Permission < cmd.perm {
		cc.reply("`%s` needs the %s permission; you have %s.", name, cmd.perm, user.Permission)
		return nil
	}
	if err := cmd.run(ctx, cc); err != nil {
		cc.reply("`%s` failed: %v", name, err)
	}
	return nil
}

// secretPattern matches what tokens look like (Slack, Matrix, GitHub and
// other long opaque strings), so a token pasted alone is redacted.
var secretPattern = regexp.MustCompile(`^(xox[a-z]-|xapp-|syt_|mct_|ghp_|gho_)|^[A-Za-z0-9_\-.=]{32,}$`)

func looksSecret(body string) bool { return secretPattern.MatchString(strings.TrimSpace(body)) }

func helpText(perm Permission) string {
	var b strings.Builder
	b.WriteString("Commands:\n\n")
	for _, c := range commands {
		if perm < c.perm {
			continue
		}
		fmt.Fprintf(&b, "* `%s", c.name)
		if c.args != "" {
			b.WriteString(" " + c.args)
		}
		fmt.Fprintf(&b, "` — %s\n", c.help)
	}
	return b.String()
}

func cmdHelp(_ context.Context, cc *commandContext) error {
	cc.reply("%s", helpText(cc.user.Permission))
	return nil
}

func cmdStatus(ctx context.Context, cc *commandContext) error {
	var b strings.Builder
	cc.br.sessMu.RLock()
	entries := append([]*sessionEntry(nil), cc.br.sessions[cc.user.MXID]...)
	cc.br.sessMu.RUnlock()
	if len(entries) == 0 {
		b.WriteString("You have no sessions.")
	}
	for _, e := range entries {
		st := e.currentState()
		// network:login is what "logout" takes to end just this one.
		name := string(e.login.Network)
		if e.login.ID != "" {
			name += ":" + string(e.login.ID)
		}
		fmt.Fprintf(&b, "* %s as %s: %s", name, nonEmpty(e.login.RemoteName, string(e.login.RemoteID)), st.Kind)
		if st.Message != "" {
			fmt.Fprintf(&b, " (%s)", st.Message)
		}
		b.WriteString("\n")
	}
	if dp, _ := cc.br.doublePuppets.Get(ctx, cc.user.MXID); dp != nil {
		b.WriteString("\nDouble puppeting is on.")
	} else {
		b.WriteString("\nDouble puppeting is off.")
	}
	fmt.Fprintf(&b, "\nNetworks: %s", cc.br.networkList())
	cc.reply("%s", b.String())
	return nil
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func cmdLogin(ctx context.Context, cc *commandContext) error {
	if len(cc.args) == 0 {
		cc.reply("Usage: `login <network> ...`. Networks: %s", cc.br.networkList())
		return nil
	}
	nid, ok := cc.br.resolveNetwork(cc.args[0])
	if !ok {
		// Not quoted: a user who left the network out typed a token here.
		return fmt.Errorf("%w (configured: %s; usage: login <network> ...)", ErrUnknownNetwork, cc.br.networkList())
	}
	login, err := cc.br.login(ctx, cc.user, nid, cc.args[1:])
	if err != nil {
		return err
	}
	cc.reply("Logged in to %s as %s.", nid, nonEmpty(login.RemoteName, string(login.RemoteID)))
	if err := cc.br.doublePuppets.AutoLogin(ctx, cc.user.MXID); err == nil {
		cc.reply("Double puppeting is on: what you do on %s shows in Matrix as your own account.", nid)
	}
	return nil
}

// resolveNetwork finds a network by what a user typed: its ID, or
// "<kind>:<name>", or a kind that has exactly one network.
func (br *Bridge) resolveNetwork(name string) (NetworkID, bool) {
	if _, ok := br.networks[NetworkID(name)]; ok {
		return NetworkID(name), true
	}
	if kind, id, ok := strings.Cut(name, ":"); ok {
		if ne, ok := br.networks[NetworkID(id)]; ok && ne.info.Kind == kind {
			return ne.info.ID, true
		}
		return "", false
	}
	var found []NetworkID
	for _, nid := range br.netOrder {
		if br.networks[nid].info.Kind == name {
			found = append(found, nid)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return "", false
}

func (br *Bridge) networkList() string {
	var nets []string
	for _, nid := range br.netOrder {
		nets = append(nets, string(nid))
	}
	sort.Strings(nets)
	if len(nets) == 0 {
		return "none"
	}
	return strings.Join(nets, ", ")
}

func cmdLogout(ctx context.Context, cc *commandContext) error {
	revoke := len(cc.args) == 2 && cc.args[1] == "revoke"
	if len(cc.args) != 1 && !revoke {
		cc.reply("Usage: `logout <network>[:<login>] [revoke]`")
		return nil
	}
	name, loginID := cc.args[0], ""
	nid, ok := cc.br.resolveNetwork(name)
	if !ok {
		// "<network>:<login>" picks one login (a Slack workspace).
		var n string
		n, loginID, _ = strings.Cut(name, ":")
		if nid, ok = cc.br.resolveNetwork(n); !ok {
			return fmt.Errorf("%w %q (configured: %s)", ErrUnknownNetwork, name, cc.br.networkList())
		}
	}
	done, err := cc.br.logout(ctx, cc.user.MXID, nid, LoginID(loginID), revoke)
	if err != nil {
		return err
	}
	if done == 0 {
		cc.reply("You are not logged in to %s.", cc.args[0])
		return nil
	}
	if revoke {
		cc.reply("Logged out of %s; the credentials were revoked there.", cc.args[0])
		return nil
	}
	cc.reply("Logged out of %s.", cc.args[0])
	return nil
}

func cmdNick(ctx context.Context, cc *commandContext) error {
	if len(cc.args) != 2 {
		cc.reply("Usage: `nick <network> <nick>`")
		return nil
	}
	nid, ok := cc.br.resolveNetwork(cc.args[0])
	if !ok {
		return fmt.Errorf("%w %q (configured: %s)", ErrUnknownNetwork, cc.args[0], cc.br.networkList())
	}
	var e *sessionEntry
	if list := cc.br.userSessions(cc.user.MXID, nid); len(list) > 0 {
		e = list[0]
	} else {
		// On IRC everyone may have a puppet without logging in.
		var err error
		if e, err = cc.br.sessionOrAuto(ctx, PortalKey{Network: nid}, cc.user); err != nil {
			return err
		}
	}
	if e == nil {
		cc.reply("You have no %s session; `login %s ...` first.", nid, nid)
		return nil
	}
	nc, ok := e.sess.(NickChanger)
	if !ok {
		cc.reply("%s has no nicks to change.", nid)
		return nil
	}
	if err := nc.ChangeNick(ctx, cc.args[1]); err != nil {
		return err
	}
	cc.reply("Your nick on %s is now %s.", nid, cc.args[1])
	return nil
}

func cmdLoginMatrix(ctx context.Context, cc *commandContext) error {
	if len(cc.args) != 1 {
		cc.reply("Usage: `login-matrix <access token>`")
		return nil
	}
	if err := cc.br.doublePuppets.Login(ctx, cc.user.MXID, cc.args[0]); err != nil {
		return err
	}
	cc.reply("Double puppeting is on.")
	return nil
}

func cmdLogoutMatrix(ctx context.Context, cc *commandContext) error {
	if err := cc.br.doublePuppets.Logout(ctx, cc.user.MXID); err != nil {
		return err
	}
	cc.reply("Double puppeting is off.")
	return nil
}

func cmdList(ctx context.Context, cc *commandContext) error {
	portals, err := cc.br.store.portals(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	n := 0
	for _, p := range portals {
		if p.Key.Receiver != "" && p.Key.Receiver != string(cc.user.MXID) {
			continue
		}
		n++
		fmt.Fprintf(&b, "* %s %s → [%s](https://matrix.to/#/%s)\n", p.Key.Network, p.Key.Chat, nonEmpty(p.Name, p.MXID.String()), p.MXID)
	}
	if n == 0 {
		cc.reply("No bridged rooms yet.")
		return nil
	}
	cc.reply("%d bridged rooms:\n\n%s", n, b.String())
	return nil
}

func cmdRejectInvites(ctx context.Context, cc *commandContext) error {
	invites, err := cc.br.store.pendingInvites(ctx, cc.user.MXID)
	if err != nil {
		return err
	}
	dp, _ := cc.br.doublePuppets.Intent(ctx, cc.user.MXID)
	var failed []string
	rejected := 0
	for _, inv := range invites {
		// The row may be stale (the user joined before it was written):
		// act only on an invite that is still pending.
		var member event.MemberEventContent
		if err := cc.br.AS.BotIntent().StateEvent(ctx, inv.Room, event.StateMember, cc.user.MXID.String(), &member); err == nil &&
			member.Membership != event.MembershipInvite {
			_ = cc.br.store.removePendingInvite(ctx, inv.Room, cc.user.MXID)
			continue
		}
		var err error
		if dp != nil {
			_, err = dp.LeaveRoom(ctx, inv.Room)
		} else {
			// Without the user's own account the inviter rescinds the
			// invite, which removes it from the user's list just the same.
			_, err = cc.br.AS.Intent(inv.Inviter).KickUser(ctx, inv.Room, &mautrix.ReqKickUser{UserID: cc.user.MXID, Reason: "invite rejected with reject-invites"})
		}
		if err != nil && !errors.Is(err, mautrix.MForbidden) {
			failed = append(failed, inv.Room.String())
			continue
		}
		_ = cc.br.store.removePendingInvite(ctx, inv.Room, cc.user.MXID)
		rejected++
	}
	if len(failed) > 0 {
		cc.reply("Rejected %d invites; %d failed: %s", rejected, len(failed), strings.Join(failed, ", "))
		return nil
	}
	cc.reply("Rejected %d pending invites.", rejected)
	return nil
}

func cmdLink(ctx context.Context, cc *commandContext) error {
	if len(cc.args) != 3 {
		cc.reply("Usage: `link <network> <chat> <room ID>`")
		return nil
	}
	nid := NetworkID(cc.args[0])
	if _, ok := cc.br.networks[nid]; !ok {
		return fmt.Errorf("%w %q", ErrUnknownNetwork, nid)
	}
	room := id.RoomID(cc.args[2])
	key := PortalKey{Network: nid, Chat: ChatID(cc.args[1])}
	if existing, err := cc.br.store.portalByKey(ctx, key); err != nil {
		return err
	} else if existing != nil && existing.MXID != "" {
		return fmt.Errorf("%s is already bridged to %s; unlink it first", key, existing.MXID)
	}
	if err := cc.br.AS.BotIntent().EnsureJoined(ctx, room); err != nil {
		return fmt.Errorf("the bot cannot join %s (invite it first): %w", room, err)
	}
	p := &Portal{Key: key, MXID: room}
	stateKey, info := cc.br.bridgeInfo(p)
	for _, t := range []event.Type{event.StateBridge, event.StateHalfShotBridge} {
		if _, err := cc.br.AS.BotIntent().SendStateEvent(ctx, room, t, stateKey, info); err != nil {
			return fmt.Errorf("set bridge info (the bot needs power to send state): %w", err)
		}
	}
	if err := cc.br.store.upsertPortal(ctx, p); err != nil {
		return err
	}
	cc.reply("Linked %s to %s.", room, key)
	return nil
}

func cmdUnlink(ctx context.Context, cc *commandContext) error {
	if len(cc.args) != 1 {
		cc.reply("Usage: `unlink <room ID>`")
		return nil
	}
	p, err := cc.br.store.portalByRoom(ctx, id.RoomID(cc.args[0]))
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("%s is not bridged", cc.args[0])
	}
	if err := cc.br.store.deletePortal(ctx, p.Key); err != nil {
		return err
	}
	cc.br.removeFromSpaces(ctx, p.MXID)
	// Clients show the bridge from this state; empty it so the room no
	// longer claims to be bridged.
	stateKey, _ := cc.br.bridgeInfo(p)
	for _, t := range []event.Type{event.StateBridge, event.StateHalfShotBridge} {
		if _, err := cc.br.AS.BotIntent().SendStateEvent(ctx, p.MXID, t, stateKey, map[string]any{}); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to clear bridge info")
		}
	}
	cc.reply("Unlinked %s from %s.", p.MXID, p.Key)
	return nil
}
