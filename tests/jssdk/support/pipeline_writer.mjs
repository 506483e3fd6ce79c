// The JS SDK side of `python -m bench.pipeline --writer jssdk`: customers' web clients submitting tickets.
//
// Usage: node pipeline_writer.mjs <database URL with ?ns=> <uid> <rate per s> <clients>
// Reads a JSON array of tickets on stdin and writes each at its time (i / rate seconds after the start),
// round robin over <clients> web SDK apps signed in as <uid> (an unsigned emulator token, as the form's anonymous
// customers are), at a push id the SDK makes, with set(): the realtime protocol's put, as the web form would.
// Prints one JSON line per ticket when its write is sent: {"key", "sent_ms"} (epoch ms), then {"done": n, "failed": k}.
import { deleteApp, initializeApp } from 'firebase/app';
import { connectDatabaseEmulator, getDatabase, goOffline, onValue, push, ref, set } from 'firebase/database';

const [url, uid, rateText, clientsText] = process.argv.slice(2);
if (!url || !uid || !rateText) {
  console.error('usage: node pipeline_writer.mjs <database URL with ?ns=> <uid> <rate per s> [clients]');
  process.exit(2);
}
const rate = Number(rateText);
const parsed = new URL(url);
const ns = parsed.searchParams.get('ns');
const clients = Array.from({ length: Math.max(1, Number(clientsText || 1)) }, (_, i) => {
  const app = initializeApp({ projectId: 'demo-tickets', databaseURL: `http://${parsed.host}?ns=${ns}` }, `bench-${i}`);
  const db = getDatabase(app);
  connectDatabaseEmulator(db, parsed.hostname, Number(parsed.port), { mockUserToken: { sub: uid, user_id: uid } });
  return { app, db };
});

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const tickets = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const now = () => performance.timeOrigin + performance.now();
// Connect every client before the clock starts: the first write of a cold client would wait for its handshake.
await Promise.all(clients.map(({ db }) => new Promise((resolve) => {
  const off = onValue(ref(db, '.info/connected'), (snap) => { if (snap.val() === true) { setImmediate(() => off()); resolve(); } });
})));

const start = now();
let failed = 0;
const writes = tickets.map((ticket, i) => new Promise((resolve) => {
  setTimeout(() => {
    const { db } = clients[i % clients.length];
    const key = push(ref(db, 'tickets')).key;
    process.stdout.write(`${JSON.stringify({ key, sent_ms: now() })}\n`);
    set(ref(db, `tickets/${key}`), { ...ticket, uid })
      .catch((error) => { failed += 1; console.error(`write of ${key} failed: ${error.message}`); })
      .finally(resolve);
  }, Math.max(0, start + (i * 1000) / rate - now()));
}));
await Promise.all(writes);
process.stdout.write(`${JSON.stringify({ done: tickets.length, failed })}\n`);
for (const { app, db } of clients) {
  goOffline(db);
  await deleteApp(app);
}
process.exit(failed ? 1 : 0);
