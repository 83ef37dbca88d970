"""Approval gates (issue #24): a person signs off legal referrals.

A stage task with `approval = true` is not emitted when it falls due: an
`approval` task is, in its place (same source, stage and priority; no
script, no contact; "for" names the gated task).  The first `approved`
outcome emits the gated task in its batch's evaluation if the account is
still in the approval's stage entry and not paused; `rejected`, a cancel
of the approval task, leaving the stage or pausing mean never.
"""
import os
import signal
import unittest

from lib import DaemonTest, feed_records, ingest_events, task_records

T0 = "2026-03-02T09:00:00+08:00"

RULES = """
stages = (
  { name = "current"; },
  { name = "legal";
    hold_when = { promise_pending = true; };
    tasks = ( { type = "legal_referral"; script = "lr"; approval = true; },
              { type = "letter"; after = "1d"; every = "1d"; max = 3; approval = true; } ); }
);
rules = (
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; },
  { name = "overdue"; from = "current"; to = "legal"; when = { days_overdue = { min = 1; }; }; }
);
scripts = ( { name = "lr"; checklist = [ "send the file to the lawyer" ]; } );
"""

OWNER = {"role": "owner", "name": "Mr Zhao", "phone": "+86-10-1"}


def setup_events(acct="A"):
    return [
        {"type": "account", "id": "E-%s-1" % acct, "account": acct, "name": "Co",
         "currency": "CNY", "size": "small", "contacts": [OWNER]},
        {"type": "invoice", "id": "E-%s-2" % acct, "account": acct, "invoice": "I-" + acct,
         "amount": 5000, "issued": "2026-02-01", "due": "2026-03-01"},
    ]


def outcome(eid, task, result, at=T0):
    return {"type": "outcome", "id": eid, "task": task, "result": result, "at": at}


class ApprovalTest(DaemonTest):
    def setUp(self):
        super().setUp()
        self.d = self.daemon(rules=RULES, clock=T0).start()

    def ingest(self, events, ok=True):
        r, res = ingest_events(self.d, events)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r, res

    def tasks(self, **kw):
        return [r for r in feed_records(self.d) if r["kind"] == "task"
                and all(r.get(k) == v for k, v in kw.items())]

    def test_approve_emits_the_gated_task_once(self):
        self.ingest(setup_events())
        appr = self.tasks(type="approval")
        self.assertEqual(len(appr), 1)
        a = appr[0]
        self.assertEqual((a["source"], a["stage"], a["for"]),
                         ("stage:legal#1", "legal", {"type": "legal_referral", "script": "lr"}))
        self.assertNotIn("script", a)
        self.assertIsNone(a["contact"])
        self.assertNotIn("ask_for", a)
        self.assertEqual(self.tasks(type="legal_referral"), [])
        # The manager's queue.
        q = task_records(self.d, "--open", "--type", "approval")
        self.assertEqual([t["task"] for t in q], [a["task"]])
        ex = self.d.ctl("explain", "A")
        self.assertIn("pending approval %s gates a legal_referral (script lr)" % a["task"], ex.stdout)

        head = self.d.status()["feed_head"]
        self.ingest([outcome("O-1", a["task"], "approved")])
        new = feed_records(self.d, head)
        self.assertEqual([r["kind"] for r in new], ["done", "task"])
        g = new[1]
        self.assertEqual((g["type"], g["script"], g["source"], g["approval"]),
                         ("legal_referral", "lr", "stage:legal#1", a["task"]))
        self.assertEqual(g["contact"], OWNER)
        self.assertEqual(g["priority"], a["priority"])
        # Approved twice: recorded, nothing more.
        head = self.d.status()["feed_head"]
        self.ingest([outcome("O-2", a["task"], "approved")])
        self.assertEqual(feed_records(self.d, head), [])
        self.assertEqual(len(self.tasks(type="legal_referral")), 1)

    def test_reject_never_emits(self):
        self.ingest(setup_events())
        a = self.tasks(type="approval")[0]
        self.ingest([outcome("O-1", a["task"], "rejected")])
        # A later approval changes nothing: the first decision stands.
        self.ingest([outcome("O-2", a["task"], "approved")])
        self.assertEqual(self.tasks(type="legal_referral"), [])
        self.assertEqual([t["status"] for t in task_records(self.d) if t["task"] == a["task"]],
                         ["done"])

    def test_other_result_closes_without_deciding(self):
        self.ingest(setup_events())
        a = self.tasks(type="approval")[0]
        self.ingest([outcome("O-1", a["task"], "done")])
        self.assertEqual(self.tasks(type="legal_referral"), [])
        # The first decision comes later and still counts.
        self.ingest([outcome("O-2", a["task"], "approved")])
        self.assertEqual(len(self.tasks(type="legal_referral")), 1)

    def test_approve_after_leaving_the_stage_emits_nothing(self):
        self.ingest(setup_events())
        a = self.tasks(type="approval")[0]
        self.ingest([{"type": "payment", "id": "P-1", "account": "A", "amount": 5000, "at": T0}])
        self.assertEqual(self.d.status()["stages"]["current"], 1)
        self.assertIn(a["task"], [r["task"] for r in feed_records(self.d) if r["kind"] == "cancel"])
        self.ingest([outcome("O-1", a["task"], "approved")])
        self.assertEqual(self.tasks(type="legal_referral"), [])

    def test_approve_in_the_batch_that_leaves_emits_nothing(self):
        self.ingest(setup_events())
        a = self.tasks(type="approval")[0]
        self.ingest([outcome("O-1", a["task"], "approved"),
                     {"type": "payment", "id": "P-1", "account": "A", "amount": 5000, "at": T0}])
        self.assertEqual(self.tasks(type="legal_referral"), [])

    def test_paused_approval_is_moot(self):
        self.ingest(setup_events())
        a = self.tasks(type="approval")[0]
        self.ingest([{"type": "account", "id": "E-3", "account": "A", "paused": True}])
        self.ingest([outcome("O-1", a["task"], "approved")])
        self.ingest([{"type": "account", "id": "E-4", "account": "A", "paused": False}])
        self.assertEqual(self.tasks(type="legal_referral"), [])

    def test_held_account_still_gets_the_approved_task(self):
        self.ingest(setup_events())
        a = self.tasks(type="approval")[0]
        self.ingest([{"type": "promise", "id": "PR-1", "account": "A", "amount": 5000,
                      "due": "2026-03-10", "at": T0},
                     outcome("O-1", a["task"], "approved")])
        self.assertEqual(len(self.tasks(type="legal_referral")), 1)

    def test_every_occurrence_is_gated_on_its_own(self):
        self.ingest(setup_events())
        self.assertEqual(self.d.ctl("clock", "advance", "3d").returncode, 0)
        letters = [t for t in self.tasks(type="approval") if t["for"]["type"] == "letter"]
        self.assertEqual([t["source"] for t in letters],
                         ["stage:legal#2/1", "stage:legal#2/2", "stage:legal#2/3"])
        self.ingest([outcome("O-1", letters[1]["task"], "approved", "2026-03-05T09:00:00+08:00")])
        sent = self.tasks(type="letter")
        self.assertEqual([(t["source"], t["approval"]) for t in sent],
                         [("stage:legal#2/2", letters[1]["task"])])
        self.assertNotIn("script", sent[0])

    def test_supersede_on_a_gated_step(self):
        rules = RULES.replace('every = "1d"; max = 3; approval = true;',
                              'every = "1d"; max = 3; approval = true; supersede = true;')
        d = self.daemon(sub="s", rules=rules, clock=T0).start()
        r, _ = ingest_events(d, setup_events())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(d.ctl("clock", "advance", "2d").returncode, 0)
        recs = feed_records(d)
        letters = [t for t in recs if t["kind"] == "task" and t.get("for", {}).get("type") == "letter"]
        self.assertEqual([t["source"] for t in letters], ["stage:legal#2/1", "stage:legal#2/2"])
        # The second approval cancelled the first, just before it.
        i = recs.index(letters[1])
        self.assertEqual((recs[i - 1]["kind"], recs[i - 1]["task"]), ("cancel", letters[0]["task"]))
        self.assertEqual(recs[i - 1]["reason"], "superseded by " + letters[1]["task"])
        # Approving the superseded one emits nothing; approving the open one
        # emits the letter (the approval itself is done: nothing to cancel).
        r, _ = ingest_events(d, [outcome("O-1", letters[0]["task"], "approved",
                                         "2026-03-04T09:00:00+08:00"),
                                 outcome("O-2", letters[1]["task"], "approved",
                                         "2026-03-04T09:00:00+08:00")])
        self.assertEqual(r.returncode, 0)
        sent = [t for t in feed_records(d) if t["kind"] == "task" and t["type"] == "letter"]
        self.assertEqual([t["approval"] for t in sent], [letters[1]["task"]])
        # The next approval supersedes the letter, which is still open.
        self.assertEqual(d.ctl("clock", "advance", "1d").returncode, 0)
        recs = feed_records(d)
        third = [t for t in recs if t["kind"] == "task" and t.get("source") == "stage:legal#2/3"]
        i = recs.index(third[0])
        self.assertEqual((recs[i - 1]["kind"], recs[i - 1]["task"]), ("cancel", sent[0]["task"]))

    def test_approved_result_only_for_approval_tasks(self):
        self.ingest([{"type": "account", "id": "E-1", "account": "B", "name": "Co",
                      "currency": "CNY", "size": "small"},
                     {"type": "invoice", "id": "E-2", "account": "B", "invoice": "I-B",
                      "amount": 5000, "issued": "2026-02-01", "due": "2026-03-01"}])
        appr = self.tasks(type="approval")[0]
        # A legal_referral (gated, then approved) is not an approval task.
        self.ingest([outcome("O-1", appr["task"], "approved")])
        lr = self.tasks(type="legal_referral")[0]
        r, res = self.ingest([outcome("O-2", lr["task"], "approved")], ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual((res[0]["status"], res[0]["field"]), ("error", "result"))
        self.assertIn("only for approval tasks", res[0]["error"])

    def test_decisions_do_not_count_as_contacts(self):
        self.ingest(setup_events())
        a = self.tasks(type="approval")[0]
        self.ingest([outcome("O-1", a["task"], "no_answer")])
        r, recs = self.d.ctl_json("explain", "A")
        self.assertEqual(recs[0]["facts"]["unreached"], 1)
        self.ingest([outcome("O-2", a["task"], "approved")])
        r, recs = self.d.ctl_json("explain", "A")
        self.assertEqual(recs[0]["facts"]["unreached"], 1)  # approved is ignored

    def test_kill_between_the_approval_and_its_outcome(self):
        self.ingest(setup_events())
        a = self.tasks(type="approval")[0]
        self.assertEqual(self.d.stop(signal.SIGKILL), -signal.SIGKILL)
        self.d.clock = None
        self.d.start(extra=["--test-clock=" + T0])
        self.ingest([outcome("O-1", a["task"], "approved")])
        g = self.tasks(type="legal_referral")
        self.assertEqual([t["approval"] for t in g], [a["task"]])

    def test_reload_removing_the_stage_withdraws_the_approval(self):
        self.ingest(setup_events())
        a = self.tasks(type="approval")[0]
        with open(os.path.join(self.d.tmp, "rules", "10-rules.conf"), "w") as f:
            f.write(RULES.replace('"legal"', '"litigation"'))
        r = self.d.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(a["task"], [x["task"] for x in feed_records(self.d) if x["kind"] == "cancel"])
        # The account climbs back at once: a new approval in the new stage.
        new = [t for t in self.tasks(type="approval") if t["stage"] == "litigation"]
        self.assertEqual(len(new), 1)
        self.ingest([outcome("O-1", a["task"], "approved")])
        self.assertEqual(self.tasks(type="legal_referral"), [])
        self.ingest([outcome("O-2", new[0]["task"], "approved")])
        self.assertEqual(len(self.tasks(type="legal_referral")), 1)

    def test_approval_is_not_a_rule_file_type(self):
        with open(os.path.join(self.tmp, "bad.conf"), "w") as f:
            f.write(RULES.replace('type = "legal_referral"; script = "lr"; approval = true;',
                                  'type = "approval";'))
        os.makedirs(os.path.join(self.tmp, "badrules"))
        os.rename(os.path.join(self.tmp, "bad.conf"), os.path.join(self.tmp, "badrules", "r.conf"))
        r = self.d.ctl("check-rules", os.path.join(self.tmp, "badrules"))
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout + r.stderr, r"r\.conf:6: .*approval")


if __name__ == "__main__":
    unittest.main()
