"""Event digests: BLAKE2b-128, and databases of the MurmurHash3 era
(interfaces.md §2.2 step 7, §2.4; targets.md R13).

Up to schema version 4 an event's idempotency digest was MurmurHash3
x64_128 of its canonical form; since version 5 it is BLAKE2b with a
16-byte output (libsodium).  A database written by the old code is
built here the way the old code wrote it: dunnd writes the events, then
the digests are replaced by MurmurHash3 digests of the stored canonical
form (the algorithm restated below and checked against the old unit
test's reference values) and user_version set back to 4.  On start:

* the migration logs that the digests were recomputed;
* every stored digest is BLAKE2b-128 of the stored canonical form;
* a repeated event is still `duplicate`; an event with a known id and a
  changed content is still an error ("id reused with different
  content") and changes nothing.
"""
import hashlib
import os
import sqlite3
import unittest

from lib import TASKS_AS_V6, DaemonTest, ingest_events, ledger_as_v9, state_as_v7

M64 = (1 << 64) - 1
C1, C2 = 0x87c37b91114253d5, 0x4cf5ad432745937f


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _fmix(k):
    k ^= k >> 33
    k = (k * 0xff51afd7ed558ccd) & M64
    k ^= k >> 33
    k = (k * 0xc4ceb9fe1a85ec53) & M64
    return k ^ (k >> 33)


def murmur3_128(data):
    """MurmurHash3 x64_128, seed 0, as the old daemon/hash.c gave it
    (h1 then h2, big-endian)."""
    h1 = h2 = 0
    n = len(data) // 16
    for i in range(n):
        k1 = int.from_bytes(data[16 * i:16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8:16 * i + 16], "little")
        h1 ^= (_rotl((k1 * C1) & M64, 31) * C2) & M64
        h1 = (_rotl(h1, 27) + h2) & M64
        h1 = (h1 * 5 + 0x52dce729) & M64
        h2 ^= (_rotl((k2 * C2) & M64, 33) * C1) & M64
        h2 = (_rotl(h2, 31) + h1) & M64
        h2 = (h2 * 5 + 0x38495ab5) & M64
    tail = data[16 * n:]
    if len(tail) > 8:
        k2 = int.from_bytes(tail[8:], "little")
        h2 ^= (_rotl((k2 * C2) & M64, 33) * C1) & M64
    if tail:
        k1 = int.from_bytes(tail[:8], "little")
        h1 ^= (_rotl((k1 * C1) & M64, 31) * C2) & M64
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    return h1.to_bytes(8, "big") + h2.to_bytes(8, "big")


def blake2b_128(data):
    return hashlib.blake2b(data, digest_size=16).digest()


EVENTS = [
    {"type": "account", "id": "a1", "account": "A", "name": "Customer A", "currency": "CNY",
     "size": "medium"},
    {"type": "invoice", "id": "i1", "account": "A", "invoice": "I-1", "amount": 125000,
     "issued": "2026-02-01", "due": "2026-02-20"},
    {"type": "payment", "id": "p1", "account": "A", "amount": 25000,
     "at": "2026-03-01T10:00:00+08:00", "invoice": "I-1"},
]


class Digest(DaemonTest):
    def test_murmur_restatement_matches_old_reference_values(self):
        # The old tests/unit/test_hash.c's vectors.
        self.assertEqual(murmur3_128(b"").hex(), "0" * 32)
        self.assertEqual(murmur3_128(b"hello").hex(), "cbd8a7b341bd9b025b1e906a48ae1d19")
        self.assertEqual(murmur3_128(b"The quick brown fox jumps over the lazy dog").hex(),
                         "e34bbc7bbc071b6c7a433ca9c49a9347")

    def stored(self, d):
        con = sqlite3.connect(d.db)
        try:
            return con.execute("SELECT id, body, digest FROM events ORDER BY seq").fetchall()
        finally:
            con.close()

    def test_old_database_is_migrated(self):
        d = self.daemon()
        d.start()
        r, res = ingest_events(d, EVENTS)
        self.assertEqual(r.returncode, 0, r.stderr)
        head0, version = d.status()["feed_head"], d.status()["rules_version"]
        self.assertGreater(head0, 0)
        self.assertEqual(d.stop(), 0)
        rows = self.stored(d)
        self.assertEqual(len(rows), 3)
        for eid, body, dg in rows:
            self.assertEqual(dg, blake2b_128(body.encode()), eid)

        # rules_version: each file's length (8 bytes, little-endian), then
        # its bytes, in read order.
        with open(os.path.join(d.tmp, "rules", "10-rules.conf"), "rb") as f:
            text = f.read()
        rules_bytes = len(text).to_bytes(8, "little") + text
        self.assertEqual(version, blake2b_128(rules_bytes).hex())

        # Make it a version-4 database, as the old code wrote it.
        con = sqlite3.connect(d.db)
        con.execute("UPDATE meta SET value = ? WHERE key = 'rules_version'",
                    (murmur3_128(rules_bytes).hex(),))
        for eid, body, dg in rows:
            old = murmur3_128(body.encode())
            self.assertNotEqual(old, dg)
            con.execute("UPDATE events SET digest = ? WHERE id = ?", (old, eid))
        ledger_as_v9(con)
        state_as_v7(con)
        con.executescript(TASKS_AS_V6)
        con.execute("PRAGMA user_version = 4")
        con.commit()
        con.close()

        d.start()
        self.assertIn("store: schema migrated to version 5", d.log())
        self.assertRegex(d.log(), r"event idempotency digests recomputed as BLAKE2b-128 .*\(3 rows\)")
        # rules_version was a MurmurHash3 digest too: the start reloads the
        # same rules, which adds nothing to the feed.
        self.assertIn("rules: changed while stopped (murmur3:%s, now %s)"
                      % (murmur3_128(rules_bytes).hex(), version), d.log())
        feed_head = d.status()["feed_head"]
        self.assertEqual(feed_head, head0)
        r, res = ingest_events(d, EVENTS)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["status"] for x in res], ["duplicate"] * 3)
        changed = dict(EVENTS[2], amount=25001)
        r, res = ingest_events(d, [changed])
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(res[0]["status"], "error")
        self.assertIn("different content", res[0]["error"])
        self.assertEqual(d.status()["feed_head"], feed_head)
        self.assertEqual(d.accounts()["A"]["balance"], 100000)
        self.assertEqual(d.stop(), 0)
        for eid, body, dg in self.stored(d):
            self.assertEqual(dg, blake2b_128(body.encode()), eid)
        con = sqlite3.connect(d.db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 10)
        con.close()


if __name__ == "__main__":
    unittest.main()
