// The Firebase JS SDK (web, modular) against the emulator over the realtime protocol (/.ws), unmodified.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  child, endAt, endBefore, equalTo, get, goOffline, goOnline, increment, limitToFirst, limitToLast, onChildAdded,
  onDisconnect, onValue, orderByChild, orderByKey, orderByPriority, orderByValue, push, query, ref, remove,
  runTransaction, serverTimestamp, set, setWithPriority, startAfter, startAt, update,
} from 'firebase/database';
import { sleep, waitFor, webClient } from './support/clients.mjs';
import { adminRest, startEmulator } from './support/emulator.mjs';

let emu;
const clients = [];
const client = (opts) => { const c = webClient(emu, opts); clients.push(c); return c; };
const values = (q) => (cb, err) => onValue(q, (s) => cb(s.val()), err);
const setRules = async (rules) => {
  const res = await fetch(`${emu.url}/.settings/rules.json?ns=${emu.ns}`, {
    method: 'PUT', headers: { Authorization: 'Bearer owner' }, body: JSON.stringify({ rules }) });
  assert.equal(res.status, 200, await res.text());
};
const OPEN = { '.read': true, '.write': true };

before(async () => { emu = await startEmulator(); });
after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await emu.stop();
});

describe('operations', () => {
  test('set, get, update, push and remove round-trip, and REST sees them', async () => {
    const { db } = client();
    await set(ref(db, 'ops/a'), { text: 'héllo 🎉', n: 1.5, ok: true, list: [1, 2, 3] });
    assert.deepEqual((await get(ref(db, 'ops/a'))).val(), { text: 'héllo 🎉', n: 1.5, ok: true, list: [1, 2, 3] });
    await update(ref(db, 'ops'), { 'a/n': 2, b: 'bee', 'a/ok': null });
    assert.deepEqual(await adminRest(emu, 'ops'), { a: { text: 'héllo 🎉', n: 2, list: [1, 2, 3] }, b: 'bee' });
    const pushed = await push(ref(db, 'ops/list'), { x: 1 });
    assert.match(pushed.key, /^[-0-9A-Za-z_]{20}$/);
    assert.deepEqual(await adminRest(emu, `ops/list/${pushed.key}`), { x: 1 });
    await remove(ref(db, 'ops/a'));
    assert.equal((await get(ref(db, 'ops/a'))).val(), null);
    assert.equal(await adminRest(emu, 'ops/a'), null);
  });

  test('server values and priorities', async () => {
    const { db } = client();
    const before = Date.now();
    await set(ref(db, 'sv'), { at: serverTimestamp(), count: increment(2) });
    await update(ref(db, 'sv'), { count: increment(3) });
    const stored = await adminRest(emu, 'sv');
    assert.equal(stored.count, 5);
    assert.ok(stored.at >= before - 1000 && stored.at <= Date.now() + 1000, `timestamp ${stored.at}`);
    await setWithPriority(ref(db, 'prio/b'), 'bee', 1);
    await setWithPriority(ref(db, 'prio/a'), { v: 'ay' }, 2);
    const snap = await get(ref(db, 'prio/a'));
    assert.equal(snap.exportVal()['.priority'], 2);
    const order = [];
    (await get(query(ref(db, 'prio'), orderByPriority()))).forEach((s) => { order.push(s.key); });
    assert.deepEqual(order, ['b', 'a']);
  });

  test('two clients see each other\'s writes live', async () => {
    const a = client(); const b = client();
    const seenByB = waitFor(values(ref(b.db, 'live/from-a')), (v) => v === 'hello b', 10_000, 'a\'s write at b');
    const seenByA = waitFor(values(ref(a.db, 'live/from-b')), (v) => v === 'hello a', 10_000, 'b\'s write at a');
    await sleep(100);
    await set(ref(a.db, 'live/from-a'), 'hello b');
    await set(ref(b.db, 'live/from-b'), 'hello a');
    await Promise.all([seenByA, seenByB]);
    const added = [];
    const unsub = onChildAdded(ref(b.db, 'live/chat'), (s) => added.push(s.val().m));
    for (const m of ['one', 'two', 'three']) await push(ref(a.db, 'live/chat'), { m });
    await waitFor((cb) => { const t = setInterval(() => cb(added.length), 20); return () => clearInterval(t); },
      (n) => n === 3, 10_000, 'three child_added events');
    unsub();
    assert.deepEqual(added, ['one', 'two', 'three']);
  });

  test('a REST write reaches an SDK listener, and an SDK write reaches an SSE stream', async () => {
    const { db } = client();
    const seen = waitFor(values(ref(db, 'doors/rest')), (v) => v && v.by === 'rest', 10_000, 'the REST write');
    await sleep(100);
    await adminRest(emu, 'doors/rest', { method: 'PUT', body: { by: 'rest' } });
    await seen;
    const controller = new AbortController();
    const res = await fetch(`${emu.url}/doors/ws.json?ns=${emu.ns}&access_token=owner`,
      { headers: { Accept: 'text/event-stream' }, signal: controller.signal });
    const reader = res.body.getReader();
    let text = '';
    const decoder = new TextDecoder();
    await reader.read().then(({ value }) => { text += decoder.decode(value); }); // the initial put
    await set(ref(db, 'doors/ws'), { by: 'websocket' });
    while (!text.includes('websocket')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    controller.abort();
    assert.match(text, /event: put\ndata: \{"path":"\/","data":\{"by":"websocket"\}\}/);
  });
});

describe('transactions', () => {
  test('10 clients each running 20 concurrent transactions on one counter end at exactly 200', async () => {
    const many = Array.from({ length: 10 }, () => client());
    const results = await Promise.all(many.flatMap(({ db }) => Array.from({ length: 20 },
      () => runTransaction(ref(db, 'tx/counter'), (n) => (n || 0) + 1))));
    assert.ok(results.every((r) => r.committed), 'every transaction committed');
    assert.equal(await adminRest(emu, 'tx/counter'), 200);
  });

  test('a transaction retries past a concurrent REST write and aborts when told to', async () => {
    const { db } = client();
    await adminRest(emu, 'tx/doc', { method: 'PUT', body: { n: 1, by: 'rest' } });
    let calls = 0;
    const result = await runTransaction(ref(db, 'tx/doc'), (doc) => {
      calls += 1;
      if (calls === 1) return { n: -1 }; // based on the SDK's empty cache: the server answers datastale
      return { ...doc, n: doc.n + 1 };
    });
    assert.ok(result.committed);
    assert.deepEqual(await adminRest(emu, 'tx/doc'), { n: 2, by: 'rest' });
    const aborted = await runTransaction(ref(db, 'tx/doc'), () => undefined);
    assert.equal(aborted.committed, false);
    assert.deepEqual(await adminRest(emu, 'tx/doc'), { n: 2, by: 'rest' });
  });
});

describe('onDisconnect', () => {
  test('set, update and remove run when the connection drops; cancel withdraws them', async () => {
    const { db } = client();
    await set(ref(db, 'presence/remove-me'), true);
    await onDisconnect(ref(db, 'presence/alice')).set({ online: false, at: serverTimestamp() });
    await onDisconnect(ref(db, 'presence/stats')).update({ drops: increment(1), last: 'alice' });
    await onDisconnect(ref(db, 'presence/remove-me')).remove();
    await onDisconnect(ref(db, 'presence/cancelled')).set('should not appear');
    await onDisconnect(ref(db, 'presence/cancelled')).cancel();
    assert.equal(await adminRest(emu, 'presence/alice'), null, 'nothing runs while connected');
    goOffline(db);
    const deadline = Date.now() + 10_000;
    let presence;
    while (Date.now() < deadline) {
      presence = await adminRest(emu, 'presence');
      if (presence && presence.alice && presence.stats && !presence['remove-me']) break;
      await sleep(50);
    }
    assert.equal(presence.alice.online, false);
    assert.equal(typeof presence.alice.at, 'number');
    assert.deepEqual(presence.stats, { drops: 1, last: 'alice' });
    assert.equal(presence['remove-me'], undefined);
    assert.equal(presence.cancelled, undefined);
    goOnline(db);
  });

  test('onDisconnect runs after the client process is killed with SIGKILL', async () => {
    const script = `
      import { webClient } from './support/clients.mjs';
      import { onDisconnect, ref, set } from 'firebase/database';
      const emu = JSON.parse(process.argv[1]);
      const { db } = webClient(emu);
      await set(ref(db, 'killed/status'), 'online');
      await onDisconnect(ref(db, 'killed/status')).set('offline');
      console.log('READY');
      setInterval(() => {}, 1000);`;
    const proc = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(
      { host: emu.host, port: emu.port, ns: emu.ns, projectId: emu.projectId })], { cwd: import.meta.dirname });
    let out = '';
    proc.stderr.on('data', (d) => { out += d; });
    await new Promise((resolve, reject) => {
      proc.stdout.on('data', (d) => { out += d; if (out.includes('READY')) resolve(); });
      proc.on('exit', (code) => reject(new Error(`client exited with ${code}: ${out}`)));
    });
    proc.removeAllListeners('exit');
    assert.equal(await adminRest(emu, 'killed/status'), 'online');
    proc.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    let status;
    while (Date.now() < deadline && (status = await adminRest(emu, 'killed/status')) !== 'offline') await sleep(50);
    assert.equal(status, 'offline');
  });
});

// Tickets with ties in `priority`, mixed types in `score`, numeric and push-style keys.
const TICKETS = {
  '-Na1': { priority: 'P2', score: 3, created: 100 }, '-Na2': { priority: 'P1', score: 'high', created: 105 },
  '-Na3': { priority: 'P2', score: 1, created: 101 }, '-Na4': { priority: 'P3', score: null, created: 99 },
  '-Na5': { priority: 'P4', score: true, created: 120 }, '-Na6': { priority: 'P2', score: 3, created: 130 },
  '-Na7': { priority: 'P1', score: 2.5, created: 90 }, '10': { priority: 'P3', score: false, created: 111 },
  '9': { priority: 'P2', score: 'low', created: 95 }, 'zed': { created: 140 }, 'alpha': { priority: 'P3', score: 0 },
};

describe('queries', () => {
  const collect = async (q) => { const keys = []; (await get(q)).forEach((s) => { keys.push(s.key); }); return keys; };
  const cases = [
    ['orderByChild, ties broken by key', (r) => query(r, orderByChild('priority')),
      ['zed', '-Na2', '-Na7', '9', '-Na1', '-Na3', '-Na6', '10', '-Na4', 'alpha', '-Na5']],
    ['equalTo', (r) => query(r, orderByChild('priority'), equalTo('P2')), ['9', '-Na1', '-Na3', '-Na6']],
    ['equalTo with a key', (r) => query(r, orderByChild('priority'), equalTo('P2', '-Na1')), ['-Na1']],
    ['startAt and endAt', (r) => query(r, orderByChild('priority'), startAt('P2'), endAt('P3')),
      ['9', '-Na1', '-Na3', '-Na6', '10', '-Na4', 'alpha']],
    ['startAt with a key', (r) => query(r, orderByChild('priority'), startAt('P2', '-Na3')),
      ['-Na3', '-Na6', '10', '-Na4', 'alpha', '-Na5']],
    ['startAfter', (r) => query(r, orderByChild('priority'), startAfter('P2')), ['10', '-Na4', 'alpha', '-Na5']],
    ['startAfter with a key', (r) => query(r, orderByChild('priority'), startAfter('P2', '-Na1')),
      ['-Na3', '-Na6', '10', '-Na4', 'alpha', '-Na5']],
    ['endBefore', (r) => query(r, orderByChild('priority'), endBefore('P2')), ['zed', '-Na2', '-Na7']],
    ['endBefore with a key', (r) => query(r, orderByChild('priority'), endBefore('P2', '-Na3')),
      ['zed', '-Na2', '-Na7', '9', '-Na1']],
    ['limitToFirst', (r) => query(r, orderByChild('created'), limitToFirst(3)), ['alpha', '-Na7', '9']],
    ['limitToLast', (r) => query(r, orderByChild('created'), limitToLast(3)), ['-Na5', '-Na6', 'zed']],
    ['range and limit from the right', (r) => query(r, orderByChild('created'), startAt(100), endAt(125), limitToLast(2)),
      ['10', '-Na5']],
    ['mixed types by value order', (r) => query(r, orderByChild('score')),
      ['-Na4', 'zed', '10', '-Na5', 'alpha', '-Na3', '-Na7', '-Na1', '-Na6', '-Na2', '9']],
    ['orderByKey with integer keys first', (r) => query(r, orderByKey(), limitToFirst(4)), ['9', '10', '-Na1', '-Na2']],
    ['orderByKey range', (r) => query(r, orderByKey(), startAt('-Na5'), endBefore('alpha')), ['-Na5', '-Na6', '-Na7']],
    ['orderByKey startAfter', (r) => query(r, orderByKey(), startAfter('alpha')), ['zed']],
  ];

  before(async () => { await adminRest(emu, 'q/tickets', { method: 'PUT', body: TICKETS }); });

  for (const [name, build, expected] of cases) {
    test(name, async () => {
      const { db } = client();
      assert.deepEqual(await collect(build(ref(db, 'q/tickets'))), expected);
      // The same query as a live listen (a tagged listen on the wire) sees the same window.
      const live = await waitFor((cb, err) => onValue(build(ref(db, 'q/tickets')), (s) => {
        const keys = []; s.forEach((c) => { keys.push(c.key); }); cb(keys);
      }, err), () => true, 10_000, name);
      assert.deepEqual(live, expected);
    });
  }

  test('orderByValue', async () => {
    const { db } = client();
    await adminRest(emu, 'q/scores', { method: 'PUT', body: { a: 30, b: 10, c: 'x', d: 20, e: false } });
    assert.deepEqual(await collect(query(ref(db, 'q/scores'), orderByValue(), startAt(15))), ['d', 'a', 'c']);
  });

  test('a live limit window refills from the server when a child leaves it', async () => {
    const { db } = client();
    const q = query(ref(db, 'q/tickets'), orderByChild('created'), limitToLast(3));
    const windows = [];
    const unsub = onValue(q, (s) => { const keys = []; s.forEach((c) => { keys.push(c.key); }); windows.push(keys); });
    await waitFor((cb) => { const t = setInterval(() => cb(windows.at(-1)), 20); return () => clearInterval(t); },
      (w) => w && w.join() === '-Na5,-Na6,zed', 10_000, 'the first window');
    await adminRest(emu, 'q/tickets/-Na6', { method: 'DELETE' }); // leaves the window: '10' must come in
    await waitFor((cb) => { const t = setInterval(() => cb(windows.at(-1)), 20); return () => clearInterval(t); },
      (w) => w.join() === '10,-Na5,zed', 10_000, 'the refilled window');
    await adminRest(emu, 'q/tickets/new', { method: 'PUT', body: { priority: 'P1', created: 500 } });
    await waitFor((cb) => { const t = setInterval(() => cb(windows.at(-1)), 20); return () => clearInterval(t); },
      (w) => w.join() === '-Na5,zed,new', 10_000, 'the window with the new ticket');
    unsub();
    await adminRest(emu, 'q/tickets', { method: 'PUT', body: TICKETS });
  });
});

describe('connections', () => {
  test('writes made offline arrive once after reconnect', async () => {
    const { db } = client();
    await set(ref(db, 'offline/ready'), true);
    goOffline(db);
    const keys = [];
    const writes = [];
    for (let i = 0; i < 5; i += 1) {
      const r = push(ref(db, 'offline/items'));
      keys.push(r.key);
      writes.push(set(r, { i }));
    }
    writes.push(update(ref(db, 'offline'), { count: 5 }));
    await sleep(200);
    assert.equal(await adminRest(emu, 'offline/items'), null, 'nothing reached the server while offline');
    goOnline(db);
    await Promise.all(writes);
    const items = await adminRest(emu, 'offline/items');
    assert.deepEqual(Object.keys(items).sort(), [...keys].sort());
    assert.deepEqual(Object.values(items).map((v) => v.i).sort(), [0, 1, 2, 3, 4]);
    assert.equal(await adminRest(emu, 'offline/count'), 5);
  });

  test('values over 1 MB travel both ways (frames split and joined)', async () => {
    const { db } = client();
    const big = 'x'.repeat(1_500_000) + '🎉 end';
    await set(ref(db, 'big/from-sdk'), { text: big });
    assert.equal((await adminRest(emu, 'big/from-sdk')).text, big);
    const other = client();
    const many = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, 'é'.repeat(400) + i]));
    await adminRest(emu, 'big/from-rest', { method: 'PUT', body: many });
    assert.deepEqual((await get(ref(other.db, 'big/from-rest'))).val(), many);
    const seen = await waitFor(values(ref(other.db, 'big/from-sdk')), (v) => v !== null, 10_000, 'the big value');
    assert.equal(seen.text, big);
  });

  test('100 SDK clients listening at once all see one write; /metrics counts their connections', async () => {
    const crowd = Array.from({ length: 100 }, () => client());
    const ready = crowd.map(({ db }) => waitFor(values(ref(db, 'crowd/signal')), () => true, 20_000, 'the first value'));
    await Promise.all(ready);
    const metrics = await (await fetch(`${emu.url}/metrics`)).text();
    const open = Number(/^rtdb_realtime_connections (\S+)$/m.exec(metrics)[1]);
    assert.ok(open >= 100, `rtdb_realtime_connections ${open}`);
    const seen = crowd.map(({ db }) => waitFor(values(ref(db, 'crowd/signal')), (v) => v === 'go', 20_000, 'go'));
    await adminRest(emu, 'crowd/signal', { method: 'PUT', body: 'go' });
    await Promise.all(seen);
  });

  test('a put answered ok survives kill -9 of the emulator', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'jssdk-durable-'));
    const durable = await startEmulator({ dataDir });
    const c = webClient(durable);
    try {
      await set(ref(c.db, 'durable/value'), { kept: true });
      await runTransaction(ref(c.db, 'durable/counter'), (n) => (n || 0) + 1);
      await durable.kill();
    } finally { await c.close(); }
    const again = await startEmulator({ dataDir });
    try {
      assert.deepEqual(await adminRest(again, 'durable'), { value: { kept: true }, counter: 1 });
    } finally { await again.stop(); rmSync(dataDir, { recursive: true, force: true }); }
  });
});

describe('rules and auth', () => {
  after(async () => { await setRules(OPEN); });

  test('permission_denied per request, and a listen revoked when the rules change', async () => {
    await setRules({ public: { '.read': true, '.write': true }, users: { $uid: { '.read': 'auth.uid === $uid',
      '.write': 'auth.uid === $uid', '.validate': 'newData.hasChildren([\'name\'])' } } });
    const alice = client({ user: { sub: 'alice' } });
    const anon = client();
    await set(ref(alice.db, 'users/alice'), { name: 'Alice' });
    await assert.rejects(set(ref(anon.db, 'users/alice'), { name: 'Mallory' }), /PERMISSION_DENIED/);
    await assert.rejects(set(ref(alice.db, 'users/alice'), { nick: 'no name' }), /PERMISSION_DENIED/);
    await assert.rejects(get(ref(anon.db, 'users/alice')), /Permission denied|permission_denied/i);
    assert.deepEqual(await adminRest(emu, 'users/alice'), { name: 'Alice' });
    const cancelled = new Promise((resolve) => onValue(ref(alice.db, 'public'), () => {}, resolve));
    await sleep(200);
    await setRules({ public: { '.read': false, '.write': true } });
    const error = await cancelled;
    assert.match(String(error), /permission_denied/i);
  });

  test('a token that expires mid-session revokes its listens and its writes', async () => {
    await setRules({ private: { '.read': 'auth != null', '.write': 'auth != null' } });
    const iat = Math.floor(Date.now() / 1000); // a real issue time: mock tokens (iat 0) never expire
    const { db } = client({ user: { sub: 'bob', iat, exp: iat + 3 } });
    await set(ref(db, 'private/note'), 'while signed in');
    const cancelled = new Promise((resolve) => onValue(ref(db, 'private'), () => {}, resolve));
    const error = await Promise.race([cancelled, sleep(15_000).then(() => 'no cancel')]);
    assert.match(String(error), /permission_denied/i);
    await assert.rejects(Promise.race([set(ref(db, 'private/note'), 'after expiry'),
      sleep(5_000).then(() => { throw new Error('PERMISSION_DENIED (write pending past expiry)'); })]),
    /PERMISSION_DENIED/);
    assert.equal(await adminRest(emu, 'private/note'), 'while signed in');
  });

  test('writes over the WebSocket fire function triggers with the socket\'s auth', async () => {
    const events = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => { events.push({ headers: req.headers, body: JSON.parse(body) }); res.end('ok'); });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    await setRules(OPEN);
    try {
      const url = `http://127.0.0.1:${server.address().port}/`;
      const res = await fetch(`${emu.url}/.settings/functionTriggers.json?ns=${emu.ns}`, {
        method: 'PUT', headers: { Authorization: 'Bearer owner' },
        body: JSON.stringify({ triggers: [{ name: 'onTicket', ref: 'wstickets/{id}', event_type: 'written', url,
          max_attempts: 1 }] }) });
      assert.equal(res.status, 200, await res.text());
      const { db } = client({ user: { sub: 'carol' } });
      await set(ref(db, 'wstickets/t1'), { subject: 'hi' });
      const deadline = Date.now() + 10_000;
      while (events.length === 0 && Date.now() < deadline) await sleep(50);
      assert.equal(events.length, 1);
      assert.equal(events[0].headers['ce-authtype'], 'app_user');
      assert.equal(events[0].headers['ce-authid'], 'carol');
      assert.equal(events[0].headers['ce-subject'], 'refs/wstickets/t1');
      assert.deepEqual(events[0].body.delta, { subject: 'hi' });
    } finally { server.close(); }
  });
});

test('child() paths and nested listens keep working side by side', async () => {
  const { db } = client();
  const parent = waitFor(values(ref(db, 'nest')), (v) => v && v.a && v.a.b === 2, 10_000, 'the parent value');
  const leaf = waitFor(values(child(ref(db, 'nest'), 'a/b')), (v) => v === 2, 10_000, 'the leaf value');
  await sleep(100);
  await adminRest(emu, 'nest', { method: 'PATCH', body: { 'a/b': 2, c: 3 } });
  await Promise.all([parent, leaf]);
});
