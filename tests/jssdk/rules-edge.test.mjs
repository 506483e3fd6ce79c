// Rules edge cases decided as production Firebase decides them, over the realtime protocol: the JS SDK's get() (and
// one listen) with @firebase/rules-unit-testing contexts. The cases are tests/emulator/rules/edge_cases.py's
// (production's recorded verdicts restated with this project's data; tests/emulator/test_rules_edges.py runs the
// same ones over REST): a .read rule at /cases/$case, who reads /cases/c1, the database, a query, and the verdict.
// A denied read is told apart from a failing rule as the recordings did: `(rule) || true` allows the first only.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import { assertFails, assertSucceeds, initializeTestEnvironment } from '@firebase/rules-unit-testing';
import { setLogLevel } from 'firebase/app';
import {
  endAt, equalTo, get, limitToFirst, limitToLast, onValue, orderByChild, orderByKey, orderByPriority, orderByValue,
  query, ref, set, startAt,
} from 'firebase/database';

import { ROOT, python, startEmulator } from './support/emulator.mjs';

// Every denied get logs a warning; RULES_TEST_DEBUG=1 keeps them.
if (!process.env.RULES_TEST_DEBUG) setLogLevel('error');

const CASES = JSON.parse(execFileSync(python(), ['-m', 'tests.emulator.rules.edge_cases'], { cwd: ROOT, encoding: 'utf8' }));
const READ_AT = 'cases/c1';
const LISTEN_TIMEOUT_MS = 5_000;

let emu;
let testEnv;
const contexts = new Map(); // JSON of a case's auth -> the Database of a rules-unit-testing context

before(async () => {
  emu = await startEmulator();
  testEnv = await initializeTestEnvironment({
    projectId: emu.projectId,
    database: { host: emu.host, port: emu.port, rules: '{"rules": {}}' },
  });
});

after(async () => {
  await testEnv?.cleanup();
  await emu?.stop();
});

/** Put rules into the namespace rules-unit-testing uses (its projectId), as it does itself; the HTTP status. */
async function loadRules(rules) {
  const res = await fetch(`${emu.url}/.settings/rules.json?ns=${emu.projectId}`, {
    method: 'PUT', headers: { Authorization: 'Bearer owner' }, body: JSON.stringify({ rules }),
  });
  await res.text();
  return res.status;
}

const readRules = (rule) => ({ cases: { $case: { '.read': rule } } });

/** The Database of the case's user: signed out, or signed in with the case's uid and token claims. */
function dbFor(auth) {
  const key = JSON.stringify(auth);
  if (!contexts.has(key)) {
    const context = auth === null
      ? testEnv.unauthenticatedContext()
      : testEnv.authenticatedContext(auth.uid, { iat: Math.floor(Date.now() / 1000), ...auth.token });
    contexts.set(key, context.database());
  }
  return contexts.get(key);
}

/** The case's query (SDK-style: orderBy "$key" | "$value" | "$priority" | a child path, bounds, limits) on `at`. */
function withQuery(at, spec) {
  if (!spec) return at;
  const order = { $key: orderByKey(), $value: orderByValue(), $priority: orderByPriority() }[spec.orderBy]
    ?? orderByChild(spec.orderBy);
  const makers = { startAt, endAt, equalTo, limitToFirst, limitToLast };
  const constraints = Object.entries(spec).filter(([name]) => name !== 'orderBy').map(([name, v]) => makers[name](v));
  return query(at, order, ...constraints);
}

const reads = async (c) => {
  try {
    await get(withQuery(ref(dbFor(c.auth), READ_AT), c.query));
    return true;
  } catch (error) {
    assert.match(error.message, /permission[_ ]denied/i);
    return false;
  }
};

/** What the emulator answers for case `c` over the SDK: allowed, denied, error or refused. */
async function verdictOverSdk(c) {
  const status = await loadRules(readRules(c.rule));
  if (status === 400) {
    // rules-unit-testing loads rules with the same PUT, so it refuses them too.
    await assert.rejects(initializeTestEnvironment({
      projectId: emu.projectId, database: { host: emu.host, port: emu.port, rules: JSON.stringify({ rules: readRules(c.rule) }) },
    }), /Invalid rules: line 1/);
    return 'refused';
  }
  assert.equal(status, 200);
  await testEnv.withSecurityRulesDisabled((context) => set(ref(context.database()), c.data));
  if (await reads(c)) return 'allowed';
  assert.equal(await loadRules(readRules(`(${c.rule}) || true`)), 200);
  return (await reads(c)) ? 'denied' : 'error';
}

test('the table has cases of every verdict, most of them recorded against production', () => {
  assert.deepEqual(new Set(CASES.map((c) => c.verdict)), new Set(['allowed', 'denied', 'error', 'refused']));
  assert.ok(CASES.filter((c) => c.recorded).length >= 30, `${CASES.length} cases`);
});

for (const category of new Set(CASES.map((c) => c.category))) {
  describe(category, () => {
    for (const c of CASES.filter((x) => x.category === category)) {
      const who = c.auth === null ? 'signed out' : c.auth.uid;
      const how = c.query ? `, query ${JSON.stringify(c.query)}` : '';
      test(`${c.verdict}: ${c.rule} (${who}${how})`, async () => {
        assert.equal(await verdictOverSdk(c), c.verdict);
      });
    }
  });
}

test('a listen is a plain read too: query.orderByKey is true for it', async () => {
  assert.equal(await loadRules(readRules('query.orderByKey == true && query.orderByValue == false')), 200);
  await testEnv.withSecurityRulesDisabled((context) => set(ref(context.database()), { cases: { c1: 'open' } }));
  const value = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no value within ${LISTEN_TIMEOUT_MS} ms`)), LISTEN_TIMEOUT_MS);
    const unsubscribe = onValue(ref(dbFor(null), READ_AT), (snapshot) => {
      clearTimeout(timer);
      unsubscribe();
      resolve(snapshot.val());
    }, (error) => { clearTimeout(timer); reject(error); });
  });
  assert.equal(value, 'open');
});

test('signed out, a write production allows (null == null) is allowed; with an owner it is not', async () => {
  assert.equal(await loadRules({ posts: { $id: { '.write': "newData.child('owner').val() == auth.uid" } } }), 200);
  await testEnv.clearDatabase();
  const db = dbFor(null);
  await assertSucceeds(set(ref(db, 'posts/p1'), { text: 'hi' }));
  await assertFails(set(ref(db, 'posts/p2'), { text: 'hi', owner: 'ann' }));
  await testEnv.withSecurityRulesDisabled(async (context) => {
    assert.deepEqual((await get(ref(context.database(), 'posts'))).val(), { p1: { text: 'hi' } });
  });
});
