"""SQLite schema as an ordered list of migrations.

Rule: a migration, once released, is never edited; a change is a new entry.
`PRAGMA user_version` records how many have run. Each migration runs in its
own transaction, so an interrupted upgrade leaves the previous version intact.
The test suite builds a database at every earlier version, fills it, and
upgrades it to the latest (tests/store/test_sqlite_backend.py).

A migration changes the schema only; values derived from message contents
(sort keys, full-text documents, parse records) are filled in the background
after open, the one way derived.py describes. Migration 9, released before
that rule, fills thread keys in SQL and stays as it is.
"""

from __future__ import annotations

import sqlite3

from posteingang.store import threads

MIGRATIONS: list[str] = [
    # 1: accounts, mailboxes, messages, blobs
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE domains (
        name TEXT PRIMARY KEY,
        catch_all TEXT
    );
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        scram_sha256 TEXT,
        quota_bytes INTEGER,
        settings TEXT NOT NULL DEFAULT '{}',
        modseq INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE aliases (
        source TEXT NOT NULL,
        target TEXT NOT NULL,
        PRIMARY KEY (source, target)
    );
    CREATE TABLE mailboxes (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        uidnext INTEGER NOT NULL,
        highestmodseq INTEGER NOT NULL,
        special_use TEXT,
        subscribed INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account_id, name)
    );
    CREATE TABLE messages (
        mailbox_id INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        keywords TEXT NOT NULL,
        internal_date INTEGER NOT NULL,
        tz_offset INTEGER NOT NULL,
        size INTEGER NOT NULL,
        blob_id TEXT NOT NULL,
        email_id TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        save_date INTEGER NOT NULL,
        PRIMARY KEY (mailbox_id, uid)
    ) WITHOUT ROWID;
    -- few messages carry keywords, and the packed index (below) does not hold them
    CREATE INDEX messages_keywords ON messages (mailbox_id, uid) WHERE keywords != '';
    -- uid/modseq/flag bits packed per range of uids: SELECT reads a few wide rows
    -- instead of one row per message (store/sqlite/index.py)
    CREATE TABLE mailbox_index (
        mailbox_id INTEGER NOT NULL,
        chunk INTEGER NOT NULL,
        uids BLOB NOT NULL,
        modseqs BLOB NOT NULL,
        flags BLOB NOT NULL,
        PRIMARY KEY (mailbox_id, chunk)
    );
    CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);
    CREATE INDEX messages_blob ON messages (blob_id);
    CREATE TABLE expunged (
        mailbox_id INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        PRIMARY KEY (mailbox_id, uid)
    ) WITHOUT ROWID;
    CREATE TABLE blobs (
        id TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        refcount INTEGER NOT NULL,
        zero_since INTEGER
    ) WITHOUT ROWID;
    -- Large values (message bytes, parse records, packed index chunks) live in rowid
    -- tables: SQLite reads their overflow pages about five times faster than from
    -- a WITHOUT ROWID table, whose rows keep only a quarter page local.
    -- small message bytes, written with their message row (store/sqlite/blobs.py)
    CREATE TABLE blob_data (
        id TEXT PRIMARY KEY,
        data BLOB NOT NULL
    );
    CREATE TABLE parsed (
        blob_id TEXT PRIMARY KEY,
        data BLOB NOT NULL
    );
    """,
    # 2: devices (app passwords) and login records
    """
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created INTEGER NOT NULL,
        last_login INTEGER,
        last_protocol TEXT,
        last_address TEXT,
        last_client_id TEXT,
        UNIQUE (account_id, name)
    );
    CREATE TABLE logins (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL,
        device_id INTEGER,
        protocol TEXT NOT NULL,
        address TEXT NOT NULL,
        client_id TEXT,
        at INTEGER NOT NULL
    );
    CREATE INDEX logins_account ON logins (account_id, at);
    """,
    # 3: POP3 per-device views and imported UIDLs
    """
    CREATE TABLE pop3_state (
        mailbox_id INTEGER NOT NULL,
        device_key INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        retrieved_at INTEGER,
        hidden INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (mailbox_id, device_key, uid)
    ) WITHOUT ROWID;
    CREATE TABLE pop3_uidl (
        mailbox_id INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        uidl TEXT NOT NULL,
        PRIMARY KEY (mailbox_id, uid)
    ) WITHOUT ROWID;
    -- delivery retries: key (e.g. sha256 of the bytes as received) -> the message stored
    CREATE TABLE delivery_keys (
        mailbox_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        uid INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (mailbox_id, key)
    ) WITHOUT ROWID;
    """,
    # 4: the size with CRLF line ends, computed at delivery (POP3 STAT/LIST read no
    # blob for it); delivery keys expire by an index, not a scan of the mailbox's keys
    """
    ALTER TABLE blobs ADD COLUMN line_size INTEGER;
    CREATE INDEX delivery_keys_at ON delivery_keys (mailbox_id, at);
    """,
    # 5 (_ids_never_reused): an id that a session, the change feed, a cache or another
    # process may still hold must never name a different row later (a
    # deleted mailbox's id went to the next CREATE, and a session that had the old
    # one selected read and wrote the new one). AUTOINCREMENT never hands out an id
    # that was used before, even after the highest row is deleted. Messages are keyed
    # by (mailbox id, uid) and blobs by content, so they follow. Runs with foreign
    # keys off (`migrate`), the SQLite way to rebuild a table others reference.
    """
    CREATE TABLE accounts_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        address TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        scram_sha256 TEXT,
        quota_bytes INTEGER,
        settings TEXT NOT NULL DEFAULT '{}',
        modseq INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO accounts_new (id, address, password_hash, scram_sha256, quota_bytes,
        settings, modseq)
        SELECT id, address, password_hash, scram_sha256, quota_bytes, settings, modseq
        FROM accounts;
    DROP TABLE accounts;
    ALTER TABLE accounts_new RENAME TO accounts;
    CREATE TABLE mailboxes_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        uidnext INTEGER NOT NULL,
        highestmodseq INTEGER NOT NULL,
        special_use TEXT,
        subscribed INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account_id, name)
    );
    INSERT INTO mailboxes_new (id, account_id, name, uidvalidity, uidnext, highestmodseq,
        special_use, subscribed)
        SELECT id, account_id, name, uidvalidity, uidnext, highestmodseq, special_use,
        subscribed FROM mailboxes;
    DROP TABLE mailboxes;
    ALTER TABLE mailboxes_new RENAME TO mailboxes;
    CREATE TABLE devices_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created INTEGER NOT NULL,
        last_login INTEGER,
        last_protocol TEXT,
        last_address TEXT,
        last_client_id TEXT,
        UNIQUE (account_id, name)
    );
    INSERT INTO devices_new SELECT id, account_id, name, password_hash, created, last_login,
        last_protocol, last_address, last_client_id FROM devices;
    DROP TABLE devices;
    ALTER TABLE devices_new RENAME TO devices;
    """,
    # 6: subscriptions are names, independent of whether a mailbox of that name exists
    # (RFC 3501 §6.3.6: the server MUST NOT remove a name from the subscription list
    # because its mailbox went; RFC 5258 shows such names as \NonExistent). CREATE no
    # longer subscribes; what was subscribed stays subscribed.
    """
    CREATE TABLE subscriptions (
        account_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (account_id, name)
    ) WITHOUT ROWID;
    INSERT INTO subscriptions (account_id, name)
        SELECT account_id, name FROM mailboxes WHERE subscribed != 0;
    ALTER TABLE mailboxes DROP COLUMN subscribed;
    """,
    # 7: a device password's selector, so
    # a login verifies exactly one hash; a login's source (IPv4 address or IPv6 /64), so
    # smart lockout can ask "has this source logged in lately?" by index.  Touches only
    # devices and logins, so it may run before or after any other migration.
    """
    ALTER TABLE devices ADD COLUMN selector TEXT;
    CREATE UNIQUE INDEX devices_selector ON devices (account_id, selector)
        WHERE selector IS NOT NULL;
    ALTER TABLE logins ADD COLUMN source TEXT;
    UPDATE logins SET source = address;
    CREATE INDEX logins_source ON logins (account_id, source, at);
    """,
    # 8: \Recent (RFC 3501 §2.3.2): messages with uid >= first_recent_uid have not been
    # announced to any session yet; `claim_recent` hands them to exactly one session.
    # What is stored now counts as already seen.
    """
    ALTER TABLE mailboxes ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;
    UPDATE mailboxes SET first_recent_uid = uidnext;
    """,
    # 9: thread ids (store/threads.py): each account's Message-IDs and the ids its
    # messages reference -> thread id, and messages by thread id (the webmail's
    # conversation view). Back-filled here with the own Message-ID of every stored
    # message (read from its parse record by a Python function `migrate` registers),
    # pointing at its current thread id: stored messages keep their thread ids (no
    # THREADID a client has cached changes), and replies delivered from now on join
    # the thread of the message they answer. The earliest message wins a shared id.
    """
    CREATE TABLE thread_keys (
        account_id INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        PRIMARY KEY (account_id, message_id)
    ) WITHOUT ROWID;
    CREATE INDEX messages_thread ON messages (thread_id);
    INSERT OR IGNORE INTO thread_keys (account_id, message_id, thread_id)
        SELECT account_id, message_id, thread_id FROM (
            SELECT b.account_id AS account_id, posteingang_message_id(p.data) AS message_id,
                m.thread_id AS thread_id, m.internal_date AS d, m.mailbox_id AS mb, m.uid AS u
            FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
            LEFT JOIN parsed p ON p.blob_id = m.blob_id)
        WHERE message_id IS NOT NULL ORDER BY d, mb, u;
    """,
    # 10: the webmail's sort keys per message (the Date
    # header, sender and base subject of store/sortkeys.py), indexed per mailbox so the
    # first page of a 100,000-message list sorted by subject walks an index. Touches
    # only messages. Existing rows are filled at open (sqlite/sortkeys.py: the keys
    # come from the parse record, which SQL cannot read); until then they are NULL.
    """
    ALTER TABLE messages ADD COLUMN sent_date INTEGER;
    ALTER TABLE messages ADD COLUMN sort_from TEXT;
    ALTER TABLE messages ADD COLUMN sort_subject TEXT;
    CREATE INDEX messages_sent ON messages (mailbox_id, sent_date, uid);
    CREATE INDEX messages_from ON messages (mailbox_id, sort_from, uid);
    CREATE INDEX messages_subject ON messages (mailbox_id, sort_subject, uid);
    CREATE INDEX messages_unsorted ON messages (mailbox_id, uid) WHERE sort_subject IS NULL;
    """,
    # 11: the full-text index of the webmail's search (sqlite/fulltext.py): one FTS5
    # document per blob (trigram tokenizer: substring matches, as IMAP SEARCH
    # compares), and the row that ties it to its blob. Blobs stored before are
    # indexed after open in small batches (the meta cursor: a rowid of `parsed`, -1
    # when done); until then messages without a document are always candidates.
    """
    CREATE TABLE search_docs (
        id INTEGER PRIMARY KEY,
        blob_id TEXT NOT NULL UNIQUE,
        complete INTEGER NOT NULL
    );
    CREATE INDEX search_docs_incomplete ON search_docs (blob_id) WHERE complete = 0;
    CREATE VIRTUAL TABLE search_text USING fts5(
        f_from, f_to, f_cc, f_subject, header, body, tokenize = 'trigram'
    );
    INSERT OR REPLACE INTO meta (key, value)
        VALUES ('fulltext_backfill', CASE WHEN EXISTS (SELECT 1 FROM parsed) THEN 0 ELSE -1 END);
    """,
    # 12: the senders whose remote images the webmail always loads, per account
    # (sqlite/images.py), so the choice follows the user to every browser. They go
    # with their account (ON DELETE CASCADE).
    """
    CREATE TABLE image_senders (
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        sender TEXT NOT NULL,
        added INTEGER NOT NULL,
        PRIMARY KEY (account_id, sender)
    ) WITHOUT ROWID;
    """,
    # 13: the messages flagged \Deleted (bit 8, store/model.py), so that EXPUNGE finds
    # them in its own write job without reading the whole mailbox
    # (messages.expunge_deleted).
    """
    CREATE INDEX messages_deleted ON messages (mailbox_id, uid) WHERE flags & 8 != 0;
    """,
    # 14: the full-text index without positions (FTS5 detail=none): a needle is
    # looked up as some of its trigrams and confirmed on the stored text
    # (sqlite/fulltext.py), which costs a third less CPU per new message and about
    # a third of the space. The documents are made again by the back-fill after
    # open; until then every message is a candidate (unsure), as after 11.
    """
    DROP TABLE search_text;
    CREATE VIRTUAL TABLE search_text USING fts5(
        f_from, f_to, f_cc, f_subject, header, body, tokenize = 'trigram', detail = none
    );
    DELETE FROM search_docs;
    INSERT OR REPLACE INTO meta (key, value)
        VALUES ('fulltext_backfill', CASE WHEN EXISTS (SELECT 1 FROM parsed) THEN 0 ELSE -1 END);
    """,
]

LATEST = len(MIGRATIONS)


def _message_id_of(parsed: bytes | None) -> str | None:
    """The Message-ID in a stored parse record, for migration 9's back-fill (a SQL
    function there); None for a record this code cannot read."""
    if parsed is None:
        return None
    from posteingang.mime.model import decode_parsed  # only the migration needs it

    try:
        message_id = decode_parsed(parsed).message_id
    except Exception:  # an old or foreign record: no key (a raise would fail the migration)
        return None
    if not message_id or len(message_id) > threads.MAX_ID_LENGTH:
        return None
    return message_id


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Apply migrations up to `target`; returns the version reached.

    Refuses a database newer than this code (downgrades are not supported).
    """
    current = schema_version(conn)
    if current > LATEST:
        raise RuntimeError(
            f"database schema version {current} is newer than this posteingang ({LATEST})"
        )
    # Foreign keys are off while migrations run (a rebuilt table is dropped while
    # others reference it; PRAGMA foreign_keys cannot change inside a transaction)
    # and checked before each COMMIT instead.
    enforced = bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])
    # What a back-fill needs from Python (migration 9 reads parse records).
    conn.create_function("posteingang_message_id", 1, _message_id_of, deterministic=True)
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for version in range(current + 1, target + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration {version} broke foreign keys: {broken[:5]}")
                conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    finally:
        if enforced:
            conn.execute("PRAGMA foreign_keys = ON")
    return schema_version(conn)
