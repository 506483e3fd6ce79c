// firebase-admin for Node against the emulator over the realtime protocol, unmodified: it finds the emulator
// through FIREBASE_DATABASE_EMULATOR_HOST, as Node Cloud Functions do, and authenticates as `owner` (gauth).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { initializeApp } from 'firebase-admin/app';
import { getDatabase, ServerValue } from 'firebase-admin/database';
import { webClient, sleep } from './support/clients.mjs';
import { adminRest, startEmulator } from './support/emulator.mjs';
import { ref as webRef, set as webSet } from 'firebase/database';

let emu;
let db;
const apps = [];
let appCount = 0;
const adminApp = (options = {}) => {
  const app = initializeApp({ projectId: emu.projectId, databaseURL: `http://${emu.host}:${emu.port}?ns=${emu.ns}`,
    ...options }, `admin-${++appCount}`);
  apps.push(app);
  return getDatabase(app);
};

before(async () => {
  emu = await startEmulator();
  process.env.FIREBASE_DATABASE_EMULATOR_HOST = `${emu.host}:${emu.port}`;
  db = adminApp();
});
after(async () => {
  await Promise.all(apps.map((a) => a.delete().catch(() => {})));
  await emu.stop();
});

test('set, get, update, push, remove and server values', async () => {
  await db.ref('admin/doc').set({ a: 1, nested: { b: 'two' }, at: ServerValue.TIMESTAMP });
  const snap = await db.ref('admin/doc').once('value');
  assert.equal(snap.child('a').val(), 1);
  assert.equal(typeof snap.child('at').val(), 'number');
  await db.ref('admin').update({ 'doc/a': ServerValue.increment(4), other: true });
  const pushed = await db.ref('admin/list').push({ x: 1 });
  await db.ref('admin/doc/nested').remove();
  const stored = await adminRest(emu, 'admin');
  assert.equal(stored.doc.a, 5);
  assert.equal(stored.doc.nested, undefined);
  assert.equal(stored.other, true);
  assert.deepEqual(stored.list, { [pushed.key]: { x: 1 } });
  assert.equal((await db.ref('admin/doc/a').get()).val(), 5);
});

test('listeners see writes from a web client and from REST, in order', async () => {
  const seen = [];
  const listener = db.ref('admin/feed').on('child_added', (s) => seen.push(s.val()));
  await sleep(100);
  const web = webClient(emu);
  try {
    await webSet(webRef(web.db, 'admin/feed/1'), 'from the web SDK');
    await adminRest(emu, 'admin/feed/2', { method: 'PUT', body: 'from REST' });
    const deadline = Date.now() + 10_000;
    while (seen.length < 2 && Date.now() < deadline) await sleep(20);
  } finally {
    db.ref('admin/feed').off('child_added', listener);
    await web.close();
  }
  assert.deepEqual(seen, ['from the web SDK', 'from REST']);
});

test('transactions from 10 apps, 20 each at once, count to exactly 200', async () => {
  const dbs = Array.from({ length: 10 }, () => adminApp());
  const results = await Promise.all(dbs.flatMap((d) => Array.from({ length: 20 },
    () => d.ref('admin/counter').transaction((n) => (n || 0) + 1))));
  assert.ok(results.every((r) => r.committed));
  assert.equal(await adminRest(emu, 'admin/counter'), 200);
});

test('queries: order, ranges and limits', async () => {
  await db.ref('admin/tickets').set({
    t1: { priority: 'P2', created: 3 }, t2: { priority: 'P1', created: 1 }, t3: { priority: 'P2', created: 2 },
    t4: { priority: 'P4', created: 5 }, t5: { priority: 'P3', created: 4 } });
  const keys = async (q) => { const out = []; (await q.once('value')).forEach((s) => { out.push(s.key); }); return out; };
  const tickets = db.ref('admin/tickets');
  assert.deepEqual(await keys(tickets.orderByChild('priority').equalTo('P2')), ['t1', 't3']);
  assert.deepEqual(await keys(tickets.orderByChild('created').limitToLast(2)), ['t5', 't4']);
  assert.deepEqual(await keys(tickets.orderByChild('priority').startAt('P2', 't3').endAt('P3')), ['t3', 't5']);
  assert.deepEqual(await keys(tickets.orderByKey().startAfter('t2').limitToFirst(2)), ['t3', 't4']);
  assert.deepEqual(await keys(tickets.orderByChild('created').endBefore(3)), ['t2', 't3']);
});

test('onDisconnect runs when the app goes offline', async () => {
  const other = adminApp();
  await other.ref('admin/presence').onDisconnect().set('gone');
  await other.ref('admin/presence').set('here');
  other.goOffline();
  const deadline = Date.now() + 10_000;
  let value;
  while (Date.now() < deadline && (value = await adminRest(emu, 'admin/presence')) !== 'gone') await sleep(50);
  assert.equal(value, 'gone');
});

test('databaseAuthVariableOverride: rules see that auth, and null means unauthenticated', async () => {
  const rules = { rules: { '.read': false, '.write': false,
    mine: { $uid: { '.read': 'auth != null && auth.uid === $uid', '.write': 'auth != null && auth.uid === $uid' } } } };
  let res = await fetch(`${emu.url}/.settings/rules.json?ns=${emu.ns}`,
    { method: 'PUT', headers: { Authorization: 'Bearer owner' }, body: JSON.stringify(rules) });
  assert.equal(res.status, 200);
  try {
    const asAlice = adminApp({ databaseAuthVariableOverride: { uid: 'alice' } });
    const asNobody = adminApp({ databaseAuthVariableOverride: null });
    await asAlice.ref('mine/alice').set({ ok: 1 });
    await assert.rejects(asAlice.ref('mine/bob').set({ ok: 1 }), /PERMISSION_DENIED/i);
    await assert.rejects(asNobody.ref('mine/alice').set({ ok: 2 }), /PERMISSION_DENIED/i);
    await assert.rejects(asNobody.ref('mine/alice').get(), /permission/i);
    assert.deepEqual((await asAlice.ref('mine/alice').get()).val(), { ok: 1 });
    await db.ref('mine/bob').set({ byAdmin: true }); // the plain admin still bypasses the rules
    assert.deepEqual(await adminRest(emu, 'mine'), { alice: { ok: 1 }, bob: { byAdmin: true } });
  } finally {
    res = await fetch(`${emu.url}/.settings/rules.json?ns=${emu.ns}`, { method: 'PUT',
      headers: { Authorization: 'Bearer owner' }, body: JSON.stringify({ rules: { '.read': true, '.write': true } }) });
    assert.equal(res.status, 200);
  }
});

test('a value over 1 MB both ways', async () => {
  const big = { text: 'ü'.repeat(1_200_000) };
  await db.ref('admin/big').set(big);
  assert.deepEqual(await adminRest(emu, 'admin/big'), big);
  const other = adminApp();
  assert.deepEqual((await other.ref('admin/big').once('value')).val(), big);
});
