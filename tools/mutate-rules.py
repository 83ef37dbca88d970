#!/usr/bin/env python3
"""Break the default rule set one edit at a time and see whether the
shipped fixtures notice.

    tools/mutate-rules.py [--build build] [--rules rules] [-v]

For every edit below it copies the rules directory (with its tests/) to a
scratch directory, applies the one edit, checks that the result still
loads (`dunnctl check-rules`; an edit that breaks the syntax proves
nothing and is skipped), and runs `dunnctl test-rules` on the copy's
fixtures.  An edit is *caught* when test-rules exits 1 (an expectation
failed) or 2 (a fixture names what the edit removed: malformed); it
*survives* when every fixture still passes.  The survivors
are printed at the end; the exit status is 1 when there is one.

The edits: each rule and alert deleted; each rule's target stage
changed; each numeric bound of a rule or alert moved by one either way;
each promise window shortened; each tags condition dropped; each stage
task deleted, its delay moved, its script and type swapped, its named
schedule dropped; the hold_when, the release_when and its tags
condition dropped; each schedule's cash-in preference, preferred days,
deferral and types changed; each setting changed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


def items(text, listname):
    """(start, end, name) of each top-level item { name = "..."; ... } of
    the list `listname = ( ... );` in text."""
    m = re.search(r'^%s\s*=\s*\(' % listname, text, re.M)
    if not m:
        return []
    out = []
    i = m.end()
    depth = 0
    start = None
    while i < len(text):
        c = text[i]
        if c == '#':
            i = text.index('\n', i)
            continue
        if c == '"':
            i = text.index('"', i + 1) + 1
            continue
        if c == '{':
            if depth == 0:
                start = i
            depth += 1
        elif c == '}':
            depth -= 1
            if depth == 0:
                end = i + 1
                if end < len(text) and text[end] == ',':
                    end += 1
                name = re.search(r'name\s*=\s*"([^"]+)"', text[start:end])
                typ = re.search(r'type\s*=\s*"([^"]+)"', text[start:end])
                out.append((start, end, name.group(1) if name else
                            (typ.group(1) if typ else '?')))
        elif c == ')' and depth == 0:
            break
        i += 1
    return out


def strip_trailing_comma(text):
    # A list whose last item was deleted keeps a comma before ")".
    return re.sub(r',(\s*(#[^\n]*\n\s*)*)\)', r'\1)', text)


def mutations(files):
    """Yields (description, {file: new text})."""
    stages = files['10-stages.conf']
    rules = files['20-rules.conf']
    alerts = files['30-alerts.conf']
    settings = files['00-settings.conf']
    scripts = re.findall(r'name = "([^"]+)"', files['40-scripts.conf'])
    stage_names = [n for _, _, n in items(stages, 'stages')]

    for fname, listname in (('20-rules.conf', 'rules'),
                            ('30-alerts.conf', 'alerts')):
        text = files[fname]
        for start, end, name in items(text, listname):
            yield ('%s %s deleted' % (listname[:-1], name),
                   {fname: strip_trailing_comma(text[:start] + text[end:])})
            body = text[start:end]
            for m in re.finditer(r'\b(min|max)\s*=\s*(\d+)', body):
                n = int(m.group(2))
                for d in (1, -1):
                    if n + d < 0:
                        continue
                    nb = body[:m.start(2)] + str(n + d) + body[m.end(2):]
                    cond = body[:m.start()].rsplit('{', 1)[0].split()[-2] \
                        if '=' in body[:m.start()] else '?'
                    yield ('%s %s: %s %s %d -> %d' % (listname[:-1], name,
                           cond, m.group(1), n, n + d),
                           {fname: text[:start] + nb + text[end:]})
            for m in re.finditer(r'window\s*=\s*"(\d+)d"', body):
                nb = body[:m.start(1)] + str(int(m.group(1)) // 3) + \
                    body[m.end(1):]
                yield ('%s %s: window %sd -> %dd' % (listname[:-1], name,
                       m.group(1), int(m.group(1)) // 3),
                       {fname: text[:start] + nb + text[end:]})
            for m in re.finditer(r'tags\s*=\s*\{[^}]*\};', body):
                nb = body[:m.start()] + body[m.end():]
                yield ('%s %s: tags condition dropped' % (listname[:-1],
                       name), {fname: text[:start] + nb + text[end:]})
            m = re.search(r'\bto\s*=\s*"([^"]+)"', body)
            if m:
                for other in stage_names:
                    if other == m.group(1):
                        continue
                    nb = body[:m.start(1)] + other + body[m.end(1):]
                    yield ('rule %s: to %s -> %s' % (name, m.group(1),
                           other), {fname: text[:start] + nb + text[end:]})
                    break
            m = re.search(r'script\s*=\s*"([^"]+)"', body)
            if m:
                other = next(s for s in scripts if s != m.group(1))
                nb = body[:m.start(1)] + other + body[m.end(1):]
                yield ('alert %s: script %s -> %s' % (name, m.group(1),
                       other), {fname: text[:start] + nb + text[end:]})

    for sstart, send, sname in items(stages, 'stages'):
        sbody = stages[sstart:send]
        tasks = items(sbody, r'\s*tasks')
        for k, (tstart, tend, ttype) in enumerate(tasks):
            tbody = sbody[tstart:tend]
            what = 'stage %s task %d (%s)' % (sname, k + 1, ttype)

            def put(nt, tstart=tstart, tend=tend):
                nb = sbody[:tstart] + nt + sbody[tend:]
                return {'10-stages.conf':
                        strip_trailing_comma(stages[:sstart] + nb +
                                             stages[send:])}
            yield (what + ' deleted', put(''))
            m = re.search(r'after\s*=\s*"(\d+)d"', tbody)
            if m:
                n = int(m.group(1))
                nt = tbody[:m.start(1)] + str(n + 1) + tbody[m.end(1):]
                yield (what + ': after %dd -> %dd' % (n, n + 1), put(nt))
            m = re.search(r'every\s*=\s*"(\d+)d"', tbody)
            if m:
                n = int(m.group(1))
                nt = tbody[:m.start(1)] + str(n + 1) + tbody[m.end(1):]
                yield (what + ': every %dd -> %dd' % (n, n + 1), put(nt))
            m = re.search(r'script\s*=\s*"([^"]+)"', tbody)
            if m:
                other = next(s for s in scripts if s != m.group(1))
                nt = tbody[:m.start(1)] + other + tbody[m.end(1):]
                yield (what + ': script %s -> %s' % (m.group(1), other),
                       put(nt))
            m = re.search(r'type\s*=\s*"([^"]+)"', tbody)
            if m:
                other = 'call' if m.group(1) != 'call' else 'visit'
                nt = tbody[:m.start(1)] + other + tbody[m.end(1):]
                yield (what + ': type %s -> %s' % (m.group(1), other),
                       put(nt))
        m = re.search(r'hold_when\s*=\s*\{[^}]*\}\s*;\s*\};', sbody)
        if m:
            nb = sbody[:m.start()] + sbody[m.end():]
            yield ('stage %s: hold_when dropped' % sname,
                   {'10-stages.conf': stages[:sstart] + nb + stages[send:]})

    m = re.search(r'release_when\s*=\s*\{.*?\};\s*\};', stages, re.S)
    if m:
        yield ('stage release_when dropped',
               {'10-stages.conf': stages[:m.start()] + stages[m.end():]})
        body = m.group(0)
        t = re.search(r'tags\s*=\s*\{[^}]*\};', body)
        if t:
            nb = body[:t.start()] + body[t.end():]
            yield ('stage release_when: tags condition dropped',
                   {'10-stages.conf': stages[:m.start()] + nb +
                    stages[m.end():]})
    for m in re.finditer(r'schedule\s*=\s*"([^"]+)";\s*', stages):
        yield ('stage task: schedule %s dropped' % m.group(1),
               {'10-stages.conf': stages[:m.start()] + stages[m.end():]})

    cal = files.get('05-calendar.conf')
    for start, end, name in items(cal, 'schedules') if cal else ():
        body = cal[start:end]

        def put_cal(nb, start=start, end=end):
            return {'05-calendar.conf': cal[:start] + nb + cal[end:]}
        if 'cash_in = true' in body:
            yield ('schedule %s: cash_in false' % name,
                   put_cal(body.replace('cash_in = true', 'cash_in = false')))
        m = re.search(r'prefer\s*=\s*\[([^\]]*)\]', body)
        if m:
            days = [d.strip() for d in m.group(1).split(',')]
            nb = body[:m.start(1)] + ', '.join(days[::-1]) + body[m.end(1):]
            yield ('schedule %s: prefer reversed' % name, put_cal(nb))
        m = re.search(r'defer_days\s*=\s*(\d+)', body)
        if m:
            n = int(m.group(1))
            nb = body[:m.start(1)] + str(0 if n else 2) + body[m.end(1):]
            yield ('schedule %s: defer_days %d -> %d' % (name, n,
                   0 if n else 2), put_cal(nb))
        m = re.search(r'types\s*=\s*\[[^\]]*\];\s*', body)
        if m:
            yield ('schedule %s: types dropped' % name,
                   put_cal(body[:m.start()] + body[m.end():]))

    for key, new in (('trend_window', '3'), ('grace_days', '0'),
                     ('promise_grace', '"0d"')):
        m = re.search(r'^%s\s*=\s*([^;]+);' % key, settings, re.M)
        if m:
            yield ('setting %s %s -> %s' % (key, m.group(1), new),
                   {'00-settings.conf': settings[:m.start(1)] + new +
                    settings[m.end(1):]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default='build')
    ap.add_argument('--rules', default='rules')
    ap.add_argument('-v', action='store_true', help='print every edit')
    a = ap.parse_args()
    dunnctl = os.path.abspath(os.path.join(a.build, 'dunnctl'))
    files = {}
    for f in sorted(os.listdir(a.rules)):
        if f.endswith('.conf') and not f.startswith('.'):
            with open(os.path.join(a.rules, f)) as fh:
                files[f] = fh.read()
    caught, survived, skipped = [], [], []
    with tempfile.TemporaryDirectory(prefix='dunnd-mutate-') as tmp:
        for desc, change in mutations(files):
            d = os.path.join(tmp, 'rules')
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(a.rules, d)
            for f, text in change.items():
                with open(os.path.join(d, f), 'w') as fh:
                    fh.write(text)
            chk = subprocess.run([dunnctl, 'check-rules', d],
                                 capture_output=True, text=True)
            if chk.returncode != 0:
                skipped.append((desc, chk.stdout.strip().split('\n')[0]))
                continue
            fixtures = sorted(os.path.join(d, 'tests', f) for f in
                              os.listdir(os.path.join(d, 'tests'))
                              if f.endswith('.jsonl'))
            r = subprocess.run([dunnctl, 'test-rules', '--rules', d] +
                               fixtures, capture_output=True, text=True)
            # 1: an expectation failed; 2: a fixture names a stage,
            # step, script or alert the edit took away (malformed).
            if r.returncode in (1, 2):
                caught.append(desc)
            elif r.returncode == 0:
                survived.append(desc)
            else:
                skipped.append((desc, 'test-rules exit %d' % r.returncode))
            if a.v:
                print('%-9s %s' % ('SURVIVED' if r.returncode == 0 else
                      'caught (%d)' % r.returncode, desc), flush=True)
    print('%d edits: %d caught, %d survived, %d skipped (do not load)' %
          (len(caught) + len(survived) + len(skipped), len(caught),
           len(survived), len(skipped)))
    for desc in survived:
        print('survived: %s' % desc)
    for desc, why in skipped:
        print('skipped: %s: %s' % (desc, why))
    return 1 if survived else 0


if __name__ == '__main__':
    sys.exit(main())
