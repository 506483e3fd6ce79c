// Transactions compare the SDK's hash of the node with the server's: on every kind of value (priorities, numbers,
// integer keys, unicode) a transaction based on fresh data must commit on its first attempt, never `datastale`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { onValue, ref, runTransaction } from 'firebase/database';
import { waitFor, webClient } from './support/clients.mjs';
import { adminRest, startEmulator } from './support/emulator.mjs';

const VALUES = {
  string: 'hello', unicode: 'héllo 🎉 日本', int: 42, negative: -7, float: 3.14159, big: 1e300, tiny: 5e-324,
  true: true, false: false, zero: 0, object: { b: 2, a: 1, c: { d: 'x' } }, array: [1, 'two', false],
  intKeys: { 10: 'a', 9: 'b', '-1': 'c', x: 'd', '007': 'e' },
  leafNumberPriority: { '.value': 'v', '.priority': 5 }, leafStringPriority: { '.value': 12, '.priority': 'p' },
  objectPriority: { '.priority': 1.5, k: 'v' },
  childPriorities: { a: { '.value': 1, '.priority': 'z' }, b: { '.value': 2, '.priority': 1 }, c: 3,
    d: { '.value': 4, '.priority': 'a' } },
};

let emu;
let web;
before(async () => { emu = await startEmulator(); web = webClient(emu); });
after(async () => { await web.close(); await emu.stop(); });

for (const [name, value] of Object.entries(VALUES)) {
  test(`a transaction on ${name} commits on its first attempt`, async () => {
    await adminRest(emu, `hash/${name}`, { method: 'PUT', body: value });
    const location = ref(web.db, `hash/${name}`);
    const hashes = [];
    await waitFor((cb, err) => onValue(location, (s) => { hashes.push(s._node.hash()); cb(s.val()); }, err),
      (v) => v !== null, 10_000, `the value of ${name}`);
    let attempts = 0;
    const result = await runTransaction(location, (current) => { attempts += 1; return { was: current }; },
      { applyLocally: false });
    assert.ok(result.committed);
    assert.equal(attempts, 1, `the server found the SDK's hash ${hashes.at(-1)} stale`);
    assert.deepEqual(Object.keys(await adminRest(emu, `hash/${name}`)), ['was']);
  });
}
