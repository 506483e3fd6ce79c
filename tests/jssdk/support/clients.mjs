// Real SDK clients pointed at a test emulator: the web SDK (modular) as a browser app uses it, one app per client.
import { deleteApp, initializeApp } from 'firebase/app';
import { connectDatabaseEmulator, getDatabase } from 'firebase/database';

let counter = 0;

/**
 * A web SDK database connected to `emu`, optionally as an end user (an unsigned emulator token, as
 * rules-unit-testing makes them: `mockUserToken` claims, e.g. {sub: 'alice', exp: ...}).
 * @returns {{app, db, close: () => Promise<void>}}
 */
export function webClient(emu, { user } = {}) {
  const app = initializeApp({ projectId: emu.projectId, databaseURL: `http://${emu.host}:${emu.port}?ns=${emu.ns}` },
    `web-${process.pid}-${++counter}`);
  const db = getDatabase(app);
  connectDatabaseEmulator(db, emu.host, emu.port, user ? { mockUserToken: user } : {});
  return { app, db, close: () => deleteApp(app) };
}

/** Resolve when `predicate(value)` holds for a value `subscribe(callback)` reports, or reject after `ms`. */
export function waitFor(subscribe, predicate, ms = 10_000, what = 'a value') {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`timed out waiting for ${what}`)); }, ms);
    unsubscribe = subscribe((value) => {
      if (predicate(value)) { clearTimeout(timer); setImmediate(() => unsubscribe()); resolve(value); }
    }, (error) => { clearTimeout(timer); reject(error); });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
