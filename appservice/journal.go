package appservice

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

//go:embed upgrades/*.sql
var upgradesFS embed.FS

// versionTable is the appservice package's own dbutil version table.
const versionTable = "appservice_version"

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(upgradesFS, "upgrades").Finish()

// journalKey identifies a journal row: the transaction's sequence number and
// the event's index inside it. Sorting by it gives the order of arrival.
type journalKey struct {
	txnSeq int64
	idx    int
}

func (k journalKey) compare(o journalKey) int {
	return cmp.Or(cmp.Compare(k.txnSeq, o.txnSeq), cmp.Compare(k.idx, o.idx))
}

// item is one journaled event waiting in, or running from, the dispatcher.
// It keeps the raw JSON rather than a parsed event: that is smaller, and
// parsing happens on the workers, in parallel.
type item struct {
	key      journalKey
	roomID   id.RoomID
	eventID  id.EventID
	evtType  string
	raw      string
	attempts int
}

// GetMassInsertValues gives the per-row columns for the batch insert.
func (it *item) GetMassInsertValues() [5]any {
	return [5]any{it.key.idx, string(it.roomID), string(it.eventID), it.evtType, it.raw}
}

const (
	insertTxnQuery = `
		INSERT INTO appservice_txn (txn_id, received_at) VALUES ($1, $2)
		ON CONFLICT (txn_id) DO NOTHING
		RETURNING seq`
	insertEventQuery = `
		INSERT INTO appservice_journal (txn_seq, idx, room_id, event_id, event_type, event)
		VALUES ($1, $2, $3, $4, $5, $6)`
	selectUnfinishedQuery = `
		SELECT txn_seq, idx, room_id, event_id, event_type, event, attempts
		FROM appservice_journal ORDER BY txn_seq, idx`
	updateAttemptsQuery = `UPDATE appservice_journal SET attempts=$3 WHERE txn_seq=$1 AND idx=$2`
	pruneTxnsQuery      = `DELETE FROM appservice_txn WHERE received_at < $1`
	// insertChunk rows per INSERT keep the parameter count (5 per row) far
	// below SQLite's and PostgreSQL's limits.
	insertChunk = 1000
	// deleteChunk keys per DELETE keep the statement short.
	deleteChunk = 1000
)

var insertEventsBuilder = dbutil.NewMassInsertBuilder[*item, [1]any](insertEventQuery, "($1, $%d, $%d, $%d, $%d, $%d)")

// journal is the durable side of the transaction path: transaction IDs and
// the events not yet handled.
type journal struct {
	db *dbutil.Database
}

// insert records the transaction ID and its events in one database
// transaction and sets each item's key. dup is true, and nothing is written,
// when the transaction ID was seen before.
func (j *journal) insert(ctx context.Context, txnID string, items []*item) (dup bool, err error) {
	err = j.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		var seq int64
		err := j.db.QueryRow(ctx, insertTxnQuery, txnID, time.Now().UnixMilli()).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			dup = true
			return nil
		} else if err != nil {
			return fmt.Errorf("insert transaction ID: %w", err)
		}
		for i, it := range items {
			it.key = journalKey{txnSeq: seq, idx: i}
		}
		for chunk := range slices.Chunk(items, insertChunk) {
			query, params := insertEventsBuilder.Build([1]any{seq}, chunk)
			if _, err := j.db.Exec(ctx, query, params...); err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
		}
		return nil
	})
	return dup, err
}

// unfinished returns every journaled event in order of arrival.
func (j *journal) unfinished(ctx context.Context) ([]*item, error) {
	rows, err := j.db.Query(ctx, selectUnfinishedQuery)
	if err != nil {
		return nil, fmt.Errorf("query journal: %w", err)
	}
	defer rows.Close()
	var items []*item
	for rows.Next() {
		it := &item{}
		if err := rows.Scan(&it.key.txnSeq, &it.key.idx, &it.roomID, &it.eventID, &it.evtType, &it.raw, &it.attempts); err != nil {
			return nil, fmt.Errorf("scan journal row: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return items, nil
}

// setAttempts records how often an event has failed, so the count survives
// a restart.
func (j *journal) setAttempts(ctx context.Context, key journalKey, attempts int) error {
	_, err := j.db.Exec(ctx, updateAttemptsQuery, key.txnSeq, key.idx, attempts)
	return err
}

// delete removes finished events.
func (j *journal) delete(ctx context.Context, keys []journalKey) error {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, journalKey.compare)
	for chunk := range slices.Chunk(keys, deleteChunk) {
		if _, err := j.db.Exec(ctx, deleteQuery(chunk)); err != nil {
			return err
		}
	}
	return nil
}

// deleteQuery builds one DELETE for sorted keys, grouped by transaction:
// "(txn_seq = 7 AND idx IN (0,1,2)) OR ...". The keys are integers we
// formatted ourselves, so inlining them is safe, and it is the one form that
// both engines accept without per-dialect casts for a list of pairs.
func deleteQuery(keys []journalKey) string {
	var b strings.Builder
	b.WriteString("DELETE FROM appservice_journal WHERE ")
	for i := 0; i < len(keys); {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(txn_seq = ")
		b.WriteString(strconv.FormatInt(keys[i].txnSeq, 10))
		b.WriteString(" AND idx IN (")
		j := i
		for ; j < len(keys) && keys[j].txnSeq == keys[i].txnSeq; j++ {
			if j > i {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(keys[j].idx))
		}
		b.WriteString("))")
		i = j
	}
	return b.String()
}

// pruneTxns forgets transaction IDs received before the given time.
func (j *journal) pruneTxns(ctx context.Context, before time.Time) (int64, error) {
	res, err := j.db.Exec(ctx, pruneTxnsQuery, before.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
