// The Auth emulator (emulator/identity.py) on its own port, driven by the real Firebase JS SDK (`connectAuthEmulator`)
// and firebase-admin for Node (`FIREBASE_AUTH_EMULATOR_HOST`), unchanged: the flows an app and its backend use.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';

import { deleteApp, initializeApp } from 'firebase/app';
import {
  connectAuthEmulator, createUserWithEmailAndPassword, deleteUser, getAdditionalUserInfo, getAuth, getIdTokenResult,
  onAuthStateChanged, signInAnonymously, signInWithCustomToken, signInWithEmailAndPassword, signOut,
} from 'firebase/auth';
import { connectDatabaseEmulator, get, getDatabase, ref, set } from 'firebase/database';
import { deleteApp as deleteAdminApp, initializeApp as initializeAdminApp } from 'firebase-admin/app';
import { getAuth as getAdminAuth } from 'firebase-admin/auth';

import { startEmulator } from './support/emulator.mjs';

let emu;

before(async () => {
  emu = await startEmulator({ args: ['--auth-port', '0'] });
  assert.ok(emu.authPort, `the emulator printed no "Auth emulator ready" line:\n${emu.output()}`);
  assert.notEqual(emu.authPort, emu.port);
  // firebase-admin reads this on every call; the Firebase CLI sets it the same way for the code it runs.
  process.env.FIREBASE_AUTH_EMULATOR_HOST = `127.0.0.1:${emu.authPort}`;
});

after(async () => {
  delete process.env.FIREBASE_AUTH_EMULATOR_HOST;
  await emu?.stop();
});

/** A client app of its own (unique name) with Auth pointed at the emulator's Auth port, deleted when `t` ends. */
function clientAuth(t) {
  const app = initializeApp({ apiKey: 'demo-api-key', projectId: emu.projectId, authDomain: `${emu.projectId}.firebaseapp.com` },
    `auth-client-${randomUUID()}`);
  t.after(() => deleteApp(app));
  const auth = getAuth(app);
  connectAuthEmulator(auth, `http://127.0.0.1:${emu.authPort}`, { disableWarnings: true });
  return auth;
}

/** firebase-admin's Auth for the emulator's project, in an app deleted when `t` ends. */
function adminAuth(t) {
  const app = initializeAdminApp({ projectId: emu.projectId }, `auth-admin-${randomUUID()}`);
  t.after(() => deleteAdminApp(app));
  return getAdminAuth(app);
}

const uniqueEmail = (who) => `${who}-${randomUUID().slice(0, 8)}@example.com`;

/** The header and payload of a JWT, and its signature segment. */
function decodeJwt(token) {
  const [header, payload, signature] = token.split('.');
  const json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  return { header: json(header), payload: json(payload), signature };
}

/** The `auth/...` code a promise rejects with (fails the test if it resolves). */
async function rejectionCode(promise) {
  try {
    await promise;
  } catch (error) {
    return error.code;
  }
  assert.fail('expected a rejection, but the call succeeded');
}

test('signInAnonymously signs up an anonymous user with an unsigned ID token', async (t) => {
  const auth = clientAuth(t);
  const { user } = await signInAnonymously(auth);
  assert.equal(user.isAnonymous, true);
  assert.equal(user.email, null);
  assert.match(user.uid, /^[A-Za-z0-9]{28}$/);
  assert.equal(auth.currentUser.uid, user.uid);

  const result = await getIdTokenResult(user);
  assert.equal(result.signInProvider, 'anonymous');
  assert.equal(result.claims.user_id, user.uid);
  assert.equal(result.claims.sub, user.uid);
  assert.equal(result.claims.provider_id, 'anonymous');
  assert.equal(result.claims.aud, emu.projectId);
  assert.equal(result.claims.iss, `https://securetoken.google.com/${emu.projectId}`);
  const { header, signature } = decodeJwt(result.token);
  assert.deepEqual([header.alg, signature], ['none', '']);
});

test('createUserWithEmailAndPassword then signInWithEmailAndPassword in another app sign in the same user', async (t) => {
  const email = uniqueEmail('pat');
  const created = await createUserWithEmailAndPassword(clientAuth(t), email, 'pat-password');
  assert.equal(created.user.isAnonymous, false);
  assert.equal(created.user.email, email);
  assert.equal(created.user.providerData[0].providerId, 'password');
  assert.equal(getAdditionalUserInfo(created).isNewUser, true);

  const other = clientAuth(t);
  const { user } = await signInWithEmailAndPassword(other, email.toUpperCase(), 'pat-password');
  assert.equal(user.uid, created.user.uid);
  assert.equal(user.email, email);
  const result = await getIdTokenResult(user);
  assert.equal(result.signInProvider, 'password');
  assert.deepEqual(result.claims.firebase.identities, { email: [email] });
  assert.equal(result.claims.email_verified, false);
});

test('refused e-mail sign-ups and sign-ins reach the app as the SDK\'s auth/ codes', async (t) => {
  const auth = clientAuth(t);
  const email = uniqueEmail('kim');
  await createUserWithEmailAndPassword(auth, email, 'kim-password');
  assert.equal(await rejectionCode(createUserWithEmailAndPassword(auth, email, 'other-password')),
    'auth/email-already-in-use');
  assert.equal(await rejectionCode(createUserWithEmailAndPassword(auth, uniqueEmail('weak'), '12345')),
    'auth/weak-password');
  assert.equal(await rejectionCode(signInWithEmailAndPassword(auth, email, 'wrong-password')), 'auth/wrong-password');
  assert.equal(await rejectionCode(signInWithEmailAndPassword(auth, uniqueEmail('nobody'), 'whatever')),
    'auth/user-not-found');
});

test('custom claims set by the admin appear after getIdToken(true) refreshes through the token endpoint', async (t) => {
  const auth = clientAuth(t);
  const admin = adminAuth(t);
  const email = uniqueEmail('lee');
  const { user } = await createUserWithEmailAndPassword(auth, email, 'lee-password');
  const before = await getIdTokenResult(user);
  assert.equal(before.claims.agent, undefined);

  await admin.setCustomUserClaims(user.uid, { agent: true, team: 'billing' });
  const cached = await getIdTokenResult(user);  // no refresh: the SDK keeps its token until it nears expiry
  assert.equal(cached.claims.agent, undefined);
  const refreshed = await getIdTokenResult(user, true);
  assert.equal(refreshed.claims.agent, true);
  assert.equal(refreshed.claims.team, 'billing');
  assert.equal(refreshed.claims.user_id, user.uid);
  assert.equal(refreshed.signInProvider, 'password');
  assert.ok(Date.parse(refreshed.expirationTime) > Date.now());
});

test('firebase-admin creates, reads, updates and deletes users', async (t) => {
  const admin = adminAuth(t);
  const email = uniqueEmail('sam');
  const created = await admin.createUser({ email, password: 'sam-password', displayName: 'Sam', photoURL: 'https://example.com/sam.png' });
  assert.match(created.uid, /^[A-Za-z0-9]{28}$/);
  assert.equal(created.email, email);
  assert.equal(created.displayName, 'Sam');
  assert.equal(created.photoURL, 'https://example.com/sam.png');
  assert.equal(created.disabled, false);
  assert.equal(created.providerData[0].providerId, 'password');
  assert.ok(Date.parse(created.metadata.creationTime) > 0);
  assert.equal(created.passwordHash, undefined);  // redacted, as Firebase answers

  const chosen = await admin.createUser({ uid: `chosen-${randomUUID().slice(0, 8)}` });
  assert.match(chosen.uid, /^chosen-/);
  assert.equal(await rejectionCode(admin.createUser({ uid: chosen.uid })), 'auth/uid-already-exists');
  assert.equal(await rejectionCode(admin.createUser({ email, password: 'another-one' })), 'auth/email-already-exists');

  await admin.setCustomUserClaims(created.uid, { agent: true });
  assert.deepEqual((await admin.getUser(created.uid)).customClaims, { agent: true });
  assert.equal((await admin.getUserByEmail(email)).uid, created.uid);
  const updated = await admin.updateUser(created.uid, { displayName: 'Samantha', disabled: true });
  assert.equal(updated.displayName, 'Samantha');
  assert.equal(updated.disabled, true);
  assert.equal(await rejectionCode(signInWithEmailAndPassword(clientAuth(t), email, 'sam-password')), 'auth/user-disabled');

  await admin.deleteUser(created.uid);
  assert.equal(await rejectionCode(admin.getUser(created.uid)), 'auth/user-not-found');
  assert.equal(await rejectionCode(admin.deleteUser(created.uid)), 'auth/user-not-found');
});

test('a custom token from firebase-admin signs the user in with its claims, kept across refreshes', async (t) => {
  const admin = adminAuth(t);
  const auth = clientAuth(t);
  const uid = `custom-${randomUUID().slice(0, 8)}`;
  const token = await admin.createCustomToken(uid, { tier: 'gold' });
  assert.equal(decodeJwt(token).header.alg, 'none');  // firebase-admin does not sign for an emulator

  const credential = await signInWithCustomToken(auth, token);
  assert.equal(credential.user.uid, uid);
  assert.equal(credential.user.isAnonymous, false);
  assert.equal(getAdditionalUserInfo(credential).isNewUser, true);
  const result = await getIdTokenResult(credential.user, true);
  assert.equal(result.signInProvider, 'custom');
  assert.equal(result.claims.tier, 'gold');
  assert.equal(result.claims.user_id, uid);

  // The user now exists for the admin, and a second sign-in finds it.
  assert.equal((await admin.getUser(uid)).uid, uid);
  const again = await signInWithCustomToken(clientAuth(t), await admin.createCustomToken(uid));
  assert.equal(getAdditionalUserInfo(again).isNewUser, false);
  assert.equal((await getIdTokenResult(again.user)).claims.tier, undefined);
});

test('signOut forgets the user, and a deleted user can no longer refresh', async (t) => {
  const auth = clientAuth(t);
  const admin = adminAuth(t);
  const states = [];
  const unsubscribe = onAuthStateChanged(auth, (user) => states.push(user?.uid ?? null));
  t.after(unsubscribe);
  const { user } = await signInAnonymously(auth);
  await signOut(auth);
  assert.equal(auth.currentUser, null);
  assert.deepEqual(states.slice(-2), [user.uid, null]);
  assert.equal((await admin.getUser(user.uid)).uid, user.uid);  // signing out does not delete

  await admin.deleteUser(user.uid);
  assert.equal(await rejectionCode(user.getIdToken(true)), 'auth/invalid-refresh-token');
});

test('a user deletes its own account', async (t) => {
  const auth = clientAuth(t);
  const admin = adminAuth(t);
  const { user } = await createUserWithEmailAndPassword(auth, uniqueEmail('max'), 'max-password');
  await deleteUser(user);
  assert.equal(auth.currentUser, null);
  assert.equal(await rejectionCode(admin.getUser(user.uid)), 'auth/user-not-found');
});

test('the database accepts the Auth emulator\'s ID tokens over the WebSocket, custom claims included', async (t) => {
  const rules = { rules: { notes: { $uid: { '.read': 'auth.uid === $uid', '.write': 'auth.uid === $uid' } },
    queue: { '.read': 'auth.token.agent === true' } } };
  const put = await fetch(`${emu.url}/.settings/rules.json?ns=${emu.ns}`,
    { method: 'PUT', headers: { Authorization: 'Bearer owner' }, body: JSON.stringify(rules) });
  assert.equal(put.status, 200, await put.text());
  const auth = clientAuth(t);
  const db = getDatabase(auth.app, `http://${emu.host}:${emu.port}?ns=${emu.ns}`);
  connectDatabaseEmulator(db, emu.host, emu.port);
  const { user } = await createUserWithEmailAndPassword(auth, uniqueEmail('dana'), 'dana-password');
  await set(ref(db, `notes/${user.uid}`), { text: 'mine' });
  await assert.rejects(set(ref(db, 'notes/someone-else'), { text: 'theirs' }), /PERMISSION_DENIED/);
  await assert.rejects(get(ref(db, 'queue')), /permission/i);
  await adminAuth(t).setCustomUserClaims(user.uid, { agent: true });
  await getIdTokenResult(user, true); // the database connection re-authenticates with the refreshed token
  const deadline = Date.now() + 10_000;
  let allowed = false;
  while (!allowed && Date.now() < deadline) {
    allowed = await get(ref(db, 'queue')).then(() => true, () => false);
    if (!allowed) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(allowed, 'an agent claim set by the admin lets the user read the queue');
  await signOut(auth); // unauth: the same connection is unauthenticated again
  await assert.rejects(set(ref(db, `notes/${user.uid}`), { text: 'signed out' }), /PERMISSION_DENIED/);
});
