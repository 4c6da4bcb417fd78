package bridge

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

//go:embed upgrades/*.sql
var upgradeFS embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(upgradeFS, "upgrades").Finish()

// store is the framework's tables. All truth lives here, never only in
// memory, so a second process can later take sessions over.
type store struct {
	db *dbutil.Database

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	// pending holds message-map rows of remote events not yet written: they
	// go to the database in one transaction with the deletion of their
	// journal rows (see flushHandled), so a crash before that replays the
	// event, and the replay finds what was sent (findBridged). Lookups see
	// pending rows first.
	pendingMu      sync.Mutex
	pendingRemote  map[remoteKey]*Message
	pendingByEvent map[id.EventID]*Message
	// flushMu keeps a portal's key from changing (rekeyPortal) while
	// flushHandled writes pending rows it copied under the old key.
	flushMu sync.Mutex

	// portals caches portal rows by key and by room: they are read for every
	// event and change rarely. Every write goes to the database first and
	// then replaces the cached copy; callers get copies, never the cached
	// struct. (A second process taking over sessions would need this cache
	// dropped or invalidated.)
	portalMu  sync.RWMutex
	portalByK map[PortalKey]Portal
	roomIndex map[id.RoomID]PortalKey
}

func newStore(db *dbutil.Database) *store {
	return &store{
		db:    db.Child("bridge_version", upgradeTable, nil),
		stmts: map[string]*sql.Stmt{},

		pendingRemote:  map[remoteKey]*Message{},
		pendingByEvent: map[id.EventID]*Message{},
		portalByK:      map[PortalKey]Portal{},
		roomIndex:      map[id.RoomID]PortalKey{},
	}
}

func (s *store) cachePortal(p *Portal) {
	s.portalMu.Lock()
	defer s.portalMu.Unlock()
	if old, ok := s.portalByK[p.Key]; ok && old.MXID != "" {
		delete(s.roomIndex, old.MXID)
	}
	s.portalByK[p.Key] = *p
	if p.MXID != "" {
		s.roomIndex[p.MXID] = p.Key
	}
}

func (s *store) uncachePortal(key PortalKey) {
	s.portalMu.Lock()
	defer s.portalMu.Unlock()
	if old, ok := s.portalByK[key]; ok && old.MXID != "" {
		delete(s.roomIndex, old.MXID)
	}
	delete(s.portalByK, key)
}

func (s *store) cachedPortal(key PortalKey) (*Portal, bool) {
	s.portalMu.RLock()
	defer s.portalMu.RUnlock()
	p, ok := s.portalByK[key]
	return &p, ok
}

func (s *store) cachedPortalByRoom(room id.RoomID) (*Portal, bool) {
	s.portalMu.RLock()
	defer s.portalMu.RUnlock()
	key, ok := s.roomIndex[room]
	if !ok {
		return nil, false
	}
	p := s.portalByK[key]
	return &p, true
}

var dollarParam = regexp.MustCompile(`\$(\d+)`)

// stmt returns a prepared statement for a hot query: SQLite spends more
// time parsing these short statements than running them. The SQL text is
// the same for both engines; SQLite's "?N" stands for PostgreSQL's "$N".
func (s *store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	text := query
	if s.db.Dialect == dbutil.SQLite {
		text = dollarParam.ReplaceAllString(query, "?$1")
	}
	st, err := s.db.RawDB.PrepareContext(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	s.stmts[query] = st
	return st, nil
}

func (s *store) close() {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	for _, st := range s.stmts {
		_ = st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
}

func (s *store) upgrade(ctx context.Context) error {
	if err := s.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade bridge tables: %w", err)
	}
	return nil
}

// Message is a row of the message map: one bridged Matrix event and the
// remote message (or reaction) it stands for.
type Message struct {
	Portal       PortalKey
	RemoteID     MessageID
	RoomID       id.RoomID
	EventID      id.EventID
	SenderMXID   id.UserID
	RemoteSender RemoteUserID
	Kind         string // "message" or "reaction"
	TargetID     MessageID
	Timestamp    time.Time
}

type remoteKey struct {
	portal PortalKey
	remote MessageID
}

// insertMessageLater records a bridged remote event in memory until the
// next flushHandled. Use it only for events that have a journal row.
func (s *store) insertMessageLater(m *Message) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	s.pendingRemote[remoteKey{m.Portal, m.RemoteID}] = m
	s.pendingByEvent[m.EventID] = m
}

func (s *store) pendingByRemote(key PortalKey, remote MessageID) *Message {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	if m, ok := s.pendingRemote[remoteKey{key, remote}]; ok {
		c := *m
		return &c
	}
	return nil
}

func (s *store) pendingEvent(eventID id.EventID) *Message {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	if m, ok := s.pendingByEvent[eventID]; ok {
		c := *m
		return &c
	}
	return nil
}

func (s *store) forgetPending(match func(*Message) bool) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	for k, m := range s.pendingRemote {
		if match(m) {
			delete(s.pendingRemote, k)
			delete(s.pendingByEvent, m.EventID)
		}
	}
}

// flushHandled writes the pending message-map rows and deletes handled
// journal rows in one transaction.
func (s *store) flushHandled(ctx context.Context, seqs []int64) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.pendingMu.Lock()
	msgs := make([]*Message, 0, len(s.pendingRemote))
	for _, m := range s.pendingRemote {
		msgs = append(msgs, m)
	}
	s.pendingMu.Unlock()
	if len(msgs) == 0 && len(seqs) == 0 {
		return nil
	}
	err := s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for _, m := range msgs {
			if _, err := s.db.Exec(ctx, insertMessageQuery, m.Portal.Network, m.Portal.Chat, m.Portal.Receiver, m.RemoteID, m.RoomID, m.EventID,
				m.SenderMXID, m.RemoteSender, m.Kind, m.TargetID, m.Timestamp.UnixMilli()); err != nil {
				return fmt.Errorf("insert message %s: %w", m.RemoteID, err)
			}
		}
		if len(seqs) > 0 {
			if _, err := s.db.Exec(ctx, `DELETE FROM remote_journal WHERE seq IN (`+inList(seqs)+`)`); err != nil {
				return fmt.Errorf("remove %d remote events from journal: %w", len(seqs), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.pendingMu.Lock()
	for _, m := range msgs {
		k := remoteKey{m.Portal, m.RemoteID}
		if s.pendingRemote[k] == m {
			delete(s.pendingRemote, k)
			delete(s.pendingByEvent, m.EventID)
		}
	}
	s.pendingMu.Unlock()
	return nil
}

const (
	kindMessage  = "message"
	kindReaction = "reaction"
)

const messageCols = `network, chat_id, receiver, remote_id, room_id, event_id, sender_mxid, remote_sender, kind, target_id, ts`

func scanMessage(row dbutil.Scannable) (*Message, error) {
	var m Message
	var ts int64
	err := row.Scan(&m.Portal.Network, &m.Portal.Chat, &m.Portal.Receiver, &m.RemoteID, &m.RoomID, &m.EventID,
		&m.SenderMXID, &m.RemoteSender, &m.Kind, &m.TargetID, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	m.Timestamp = time.UnixMilli(ts)
	return &m, nil
}

// insertMessage records a bridged event. It reports false when the remote ID
// is already mapped in that portal (a duplicate that must not be sent again).
func (s *store) insertMessage(ctx context.Context, m *Message) (bool, error) {
	st, err := s.stmt(ctx, insertMessageQuery)
	if err != nil {
		return false, err
	}
	res, err := st.ExecContext(ctx, m.Portal.Network, m.Portal.Chat, m.Portal.Receiver, m.RemoteID, m.RoomID, m.EventID,
		m.SenderMXID, m.RemoteSender, m.Kind, m.TargetID, m.Timestamp.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("insert message %s: %w", m.RemoteID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

const (
	insertMessageQuery   = `INSERT INTO message (` + messageCols + `) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT DO NOTHING`
	messageByRemoteQuery = `SELECT ` + messageCols + ` FROM message WHERE network=$1 AND chat_id=$2 AND receiver=$3 AND remote_id=$4`
	journalRemoteQuery   = `INSERT INTO remote_journal (portal, event) VALUES ($1, $2) RETURNING seq`
)

func (s *store) messageByRemoteID(ctx context.Context, key PortalKey, remoteID MessageID) (*Message, error) {
	if m := s.pendingByRemote(key, remoteID); m != nil {
		return m, nil
	}
	st, err := s.stmt(ctx, messageByRemoteQuery)
	if err != nil {
		return nil, err
	}
	m, err := scanMessage(st.QueryRowContext(ctx, key.Network, key.Chat, key.Receiver, remoteID))
	if err != nil {
		return nil, fmt.Errorf("get message %s: %w", remoteID, err)
	}
	return m, nil
}

func (s *store) messageByEventID(ctx context.Context, eventID id.EventID) (*Message, error) {
	if m := s.pendingEvent(eventID); m != nil {
		return m, nil
	}
	m, err := scanMessage(s.db.QueryRow(ctx, `SELECT `+messageCols+` FROM message WHERE event_id=$1`, eventID))
	if err != nil {
		return nil, fmt.Errorf("get message for %s: %w", eventID, err)
	}
	return m, nil
}

func (s *store) deleteMessage(ctx context.Context, eventID id.EventID) error {
	s.forgetPending(func(m *Message) bool { return m.EventID == eventID })
	_, err := s.db.Exec(ctx, `DELETE FROM message WHERE event_id=$1`, eventID)
	if err != nil {
		return fmt.Errorf("delete message %s: %w", eventID, err)
	}
	return nil
}

// reactionRemoteID names a reaction in the message map. It is JSON so any
// remote ID or key fits, and PostgreSQL text cannot hold the NUL byte a
// plainer separator would need.
func reactionRemoteID(target MessageID, sender RemoteUserID, key string) MessageID {
	data, _ := json.Marshal([]string{string(target), string(sender), key})
	return MessageID("reaction:" + string(data))
}

func splitReactionID(rid MessageID) (target MessageID, key string) {
	var parts []string
	if json.Unmarshal([]byte(strings.TrimPrefix(string(rid), "reaction:")), &parts) != nil || len(parts) != 3 {
		return "", ""
	}
	return MessageID(parts[0]), parts[2]
}

const portalCols = `network, chat_id, receiver, COALESCE(mxid, ''), name, topic, avatar_id, is_dm`

func scanPortal(row dbutil.Scannable) (*Portal, error) {
	var p Portal
	err := row.Scan(&p.Key.Network, &p.Key.Chat, &p.Key.Receiver, &p.MXID, &p.Name, &p.Topic, &p.AvatarID, &p.IsDM)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &p, nil
}

func (s *store) portalByKey(ctx context.Context, key PortalKey) (*Portal, error) {
	if p, ok := s.cachedPortal(key); ok {
		return p, nil
	}
	p, err := scanPortal(s.db.QueryRow(ctx, `SELECT `+portalCols+` FROM portal WHERE network=$1 AND chat_id=$2 AND receiver=$3`,
		key.Network, key.Chat, key.Receiver))
	if err != nil {
		return nil, fmt.Errorf("get portal %s: %w", key, err)
	}
	if p != nil {
		s.cachePortal(p)
	}
	return p, nil
}

func (s *store) portalByRoom(ctx context.Context, room id.RoomID) (*Portal, error) {
	if p, ok := s.cachedPortalByRoom(room); ok {
		return p, nil
	}
	p, err := scanPortal(s.db.QueryRow(ctx, `SELECT `+portalCols+` FROM portal WHERE mxid=$1`, room))
	if err != nil {
		return nil, fmt.Errorf("get portal of %s: %w", room, err)
	}
	if p != nil {
		s.cachePortal(p)
	}
	return p, nil
}

func (s *store) portals(ctx context.Context) ([]*Portal, error) {
	rows, err := s.db.Query(ctx, `SELECT `+portalCols+` FROM portal WHERE mxid IS NOT NULL ORDER BY network, chat_id`)
	if err != nil {
		return nil, fmt.Errorf("list portals: %w", err)
	}
	defer rows.Close()
	var out []*Portal
	for rows.Next() {
		p, err := scanPortal(rows)
		if err != nil {
			return nil, fmt.Errorf("scan portal: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *store) upsertPortal(ctx context.Context, p *Portal) error {
	var mxid any
	if p.MXID != "" {
		mxid = p.MXID
	}
	_, err := s.db.Exec(ctx, `INSERT INTO portal (network, chat_id, receiver, mxid, name, topic, avatar_id, is_dm, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
		ON CONFLICT (network, chat_id, receiver) DO UPDATE SET mxid=excluded.mxid, name=excluded.name,
			topic=excluded.topic, avatar_id=excluded.avatar_id, is_dm=excluded.is_dm`,
		p.Key.Network, p.Key.Chat, p.Key.Receiver, mxid, p.Name, p.Topic, p.AvatarID, p.IsDM, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("save portal %s: %w", p.Key, err)
	}
	s.cachePortal(p)
	return nil
}

func (s *store) deletePortal(ctx context.Context, key PortalKey) error {
	s.forgetPending(func(m *Message) bool { return m.Portal == key })
	_, err := s.db.Exec(ctx, `DELETE FROM portal WHERE network=$1 AND chat_id=$2 AND receiver=$3`, key.Network, key.Chat, key.Receiver)
	if err != nil {
		return fmt.Errorf("delete portal %s: %w", key, err)
	}
	s.uncachePortal(key)
	return nil
}

// rekeyPortal moves a portal, with its message map, to a new key in the
// same network: its room now stands for another chat (an IRC DM whose
// partner changed nick). A room-less row under the new key is replaced.
// The rows are copied rather than updated in place because the message
// map's foreign key has no ON UPDATE CASCADE.
func (s *store) rekeyPortal(ctx context.Context, from, to PortalKey) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	err := s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		if _, err := s.db.Exec(ctx, `DELETE FROM portal WHERE network=$1 AND chat_id=$2 AND receiver=$3 AND mxid IS NULL`,
			to.Network, to.Chat, to.Receiver); err != nil {
			return fmt.Errorf("clear room-less portal: %w", err)
		}
		// mxid is unique: the copy takes it over once the old row is gone.
		if _, err := s.db.Exec(ctx, `INSERT INTO portal (network, chat_id, receiver, mxid, name, topic, avatar_id, is_dm, created_at)
			SELECT network, $4, $5, NULL, name, topic, avatar_id, is_dm, created_at FROM portal WHERE network=$1 AND chat_id=$2 AND receiver=$3`,
			from.Network, from.Chat, from.Receiver, to.Chat, to.Receiver); err != nil {
			return fmt.Errorf("copy portal: %w", err)
		}
		if _, err := s.db.Exec(ctx, `UPDATE message SET chat_id=$4, receiver=$5 WHERE network=$1 AND chat_id=$2 AND receiver=$3`,
			from.Network, from.Chat, from.Receiver, to.Chat, to.Receiver); err != nil {
			return fmt.Errorf("move message map: %w", err)
		}
		var mxid sql.NullString
		if err := s.db.QueryRow(ctx, `DELETE FROM portal WHERE network=$1 AND chat_id=$2 AND receiver=$3 RETURNING mxid`,
			from.Network, from.Chat, from.Receiver).Scan(&mxid); err != nil {
			return fmt.Errorf("remove old portal row: %w", err)
		}
		if _, err := s.db.Exec(ctx, `UPDATE portal SET mxid=$4 WHERE network=$1 AND chat_id=$2 AND receiver=$3`,
			to.Network, to.Chat, to.Receiver, mxid); err != nil {
			return fmt.Errorf("give the room to the new key: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("move portal %s to %s: %w", from, to, err)
	}
	// Rows still pending (written with the next flush) follow the portal,
	// or their insert would name a key that no longer exists.
	s.pendingMu.Lock()
	for k, m := range s.pendingRemote {
		if m.Portal == from {
			moved := *m
			moved.Portal = to
			delete(s.pendingRemote, k)
			s.pendingRemote[remoteKey{to, m.RemoteID}] = &moved
			s.pendingByEvent[m.EventID] = &moved
		}
	}
	s.pendingMu.Unlock()
	s.portalMu.Lock()
	p, ok := s.portalByK[from]
	delete(s.portalByK, from)
	if old, had := s.portalByK[to]; had && old.MXID != "" {
		delete(s.roomIndex, old.MXID)
	}
	if ok {
		p.Key = to
		s.portalByK[to] = p
		if p.MXID != "" {
			s.roomIndex[p.MXID] = to
		}
	} else {
		delete(s.portalByK, to)
	}
	s.portalMu.Unlock()
	return nil
}

func (s *store) managementRoom(ctx context.Context, user id.UserID) (id.RoomID, error) {
	var room id.RoomID
	err := s.db.QueryRow(ctx, `SELECT management_room FROM bridge_user WHERE mxid=$1`, user).Scan(&room)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("get management room of %s: %w", user, err)
	}
	return room, nil
}

func (s *store) setManagementRoom(ctx context.Context, user id.UserID, room id.RoomID) error {
	_, err := s.db.Exec(ctx, `INSERT INTO bridge_user (mxid, management_room) VALUES ($1, $2)
		ON CONFLICT (mxid) DO UPDATE SET management_room=excluded.management_room`, user, room)
	if err != nil {
		return fmt.Errorf("set management room of %s: %w", user, err)
	}
	return nil
}

func (s *store) isManagementRoom(ctx context.Context, room id.RoomID) (id.UserID, error) {
	var user id.UserID
	err := s.db.QueryRow(ctx, `SELECT mxid FROM bridge_user WHERE management_room=$1`, room).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("check management room %s: %w", room, err)
	}
	return user, nil
}

func (s *store) saveLogin(ctx context.Context, l *Login) error {
	meta := string(l.Metadata)
	if meta == "" {
		meta = "{}"
	}
	_, err := s.db.Exec(ctx, `INSERT INTO login (user_mxid, network, login_id, remote_id, remote_name, metadata) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (user_mxid, network, login_id) DO UPDATE SET remote_id=excluded.remote_id, remote_name=excluded.remote_name, metadata=excluded.metadata`,
		l.User, l.Network, l.ID, l.RemoteID, l.RemoteName, meta)
	if err != nil {
		return fmt.Errorf("save login of %s on %s: %w", l.User, l.Network, err)
	}
	return nil
}

func (s *store) deleteLogin(ctx context.Context, l *Login) error {
	_, err := s.db.Exec(ctx, `DELETE FROM login WHERE user_mxid=$1 AND network=$2 AND login_id=$3`, l.User, l.Network, l.ID)
	if err != nil {
		return fmt.Errorf("delete login of %s on %s: %w", l.User, l.Network, err)
	}
	return nil
}

func (s *store) logins(ctx context.Context) ([]*Login, error) {
	rows, err := s.db.Query(ctx, `SELECT user_mxid, network, login_id, remote_id, remote_name, metadata FROM login ORDER BY user_mxid`)
	if err != nil {
		return nil, fmt.Errorf("list logins: %w", err)
	}
	defer rows.Close()
	var out []*Login
	for rows.Next() {
		var l Login
		var meta string
		if err := rows.Scan(&l.User, &l.Network, &l.ID, &l.RemoteID, &l.RemoteName, &meta); err != nil {
			return nil, fmt.Errorf("scan login: %w", err)
		}
		l.Metadata = []byte(meta)
		out = append(out, &l)
	}
	return out, rows.Err()
}

func (s *store) addPendingInvite(ctx context.Context, room id.RoomID, user, inviter id.UserID) error {
	_, err := s.db.Exec(ctx, `INSERT INTO pending_invite (room_id, user_mxid, inviter, ts) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING`,
		room, user, inviter, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("record invite of %s to %s: %w", user, room, err)
	}
	return nil
}

func (s *store) removePendingInvite(ctx context.Context, room id.RoomID, user id.UserID) error {
	_, err := s.db.Exec(ctx, `DELETE FROM pending_invite WHERE room_id=$1 AND user_mxid=$2`, room, user)
	if err != nil {
		return fmt.Errorf("forget invite of %s to %s: %w", user, room, err)
	}
	return nil
}

type pendingInvite struct {
	Room    id.RoomID
	Inviter id.UserID
}

func (s *store) pendingInvites(ctx context.Context, user id.UserID) ([]pendingInvite, error) {
	rows, err := s.db.Query(ctx, `SELECT room_id, inviter FROM pending_invite WHERE user_mxid=$1 ORDER BY ts`, user)
	if err != nil {
		return nil, fmt.Errorf("list invites of %s: %w", user, err)
	}
	defer rows.Close()
	var out []pendingInvite
	for rows.Next() {
		var p pendingInvite
		if err := rows.Scan(&p.Room, &p.Inviter); err != nil {
			return nil, fmt.Errorf("scan invite: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *store) journalRemote(ctx context.Context, portal string, data []byte) (int64, error) {
	var seq int64
	st, err := s.stmt(ctx, journalRemoteQuery)
	if err != nil {
		return 0, err
	}
	err = st.QueryRowContext(ctx, portal, string(data)).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("journal remote event: %w", err)
	}
	return seq, nil
}

func (s *store) unjournalRemote(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	_, err := s.db.Exec(ctx, `DELETE FROM remote_journal WHERE seq IN (`+inList(seqs)+`)`)
	if err != nil {
		return fmt.Errorf("remove %d remote events from journal: %w", len(seqs), err)
	}
	return nil
}

func (s *store) remoteJournal(ctx context.Context) (seqs []int64, data [][]byte, err error) {
	rows, err := s.db.Query(ctx, `SELECT seq, event FROM remote_journal ORDER BY seq`)
	if err != nil {
		return nil, nil, fmt.Errorf("read remote journal: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var ev string
		if err := rows.Scan(&seq, &ev); err != nil {
			return nil, nil, fmt.Errorf("scan remote journal: %w", err)
		}
		seqs = append(seqs, seq)
		data = append(data, []byte(ev))
	}
	return seqs, data, rows.Err()
}
