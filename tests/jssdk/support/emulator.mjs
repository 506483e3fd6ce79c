// Start the project's emulator (`python -m emulator`) on free ports for a Node test, as tests/support/procs.py does
// for pytest: in memory unless a data dir is given, with Firebase's default of no rules (everything allowed).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const TEST_CONFIG = join(ROOT, 'tests', 'support', 'firebase.json');
const READY = /Database emulator ready at (http:\/\/([\d.]+):(\d+))\/\?ns=([a-z0-9-]+)/;
const AUTH_READY = /Auth emulator ready at http:\/\/[\d.]+:(\d+)/;
const START_TIMEOUT_MS = 30_000;

/** The Python that runs the emulator: $PYTHON (set by the pytest wrapper), else the repository's .venv. */
export function python() {
  if (process.env.PYTHON) return process.env.PYTHON;
  const venv = join(ROOT, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/**
 * Start an emulator process and wait until it serves.
 * @param {{args?: string[], env?: object, dataDir?: string, config?: string}} options
 * @returns {Promise<{url, host, port, ns, projectId, authPort, proc, output: () => string, stop, kill}>}
 */
export async function startEmulator({ args = [], env = {}, dataDir, config } = {}) {
  const argv = ['-m', 'emulator', '--port', '0', '--hosting-port', '0', '--config', config ?? TEST_CONFIG,
    ...(dataDir ? ['--data-dir', dataDir] : ['--in-memory']), ...args];
  const proc = spawn(python(), argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (chunk) => { out += chunk.toString(); };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  const match = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`emulator did not start in ${START_TIMEOUT_MS} ms:\n${out}`)), START_TIMEOUT_MS);
    const check = () => {
      const m = READY.exec(out);
      if (m) { clearTimeout(timer); resolvePromise(m); }
    };
    proc.stdout.on('data', check);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`emulator exited with ${code}:\n${out}`)); });
  });
  proc.removeAllListeners('exit');
  const [, url, host, port, ns] = match;
  const auth = AUTH_READY.exec(out);
  const exited = new Promise((r) => proc.once('exit', r));
  return {
    url, host, port: Number(port), ns, projectId: ns.replace(/-default-rtdb$/, ''),
    authPort: auth ? Number(auth[1]) : undefined,
    proc,
    output: () => out,
    /** Stop cleanly (SIGTERM) and wait for the exit. */
    async stop() { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM'); await exited; },
    /** Kill -9, as a crash would. */
    async kill() { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); await exited; },
  };
}

/** `fetch` against the emulator's REST API as the admin (`Authorization: Bearer owner`). */
export async function adminRest(emu, path, { method = 'GET', body } = {}) {
  const res = await fetch(`${emu.url}/${path.replace(/^\//, '')}.json?ns=${emu.ns}`, {
    method, headers: { Authorization: 'Bearer owner' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
