import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const FIXTURE_CA = path.join(REPO_ROOT, 'test/fixtures/apns-stand-in/ca.pem');
export const PUSH_ID = 'web.com.example';

export interface Child {
  child: ChildProcess;
  match: RegExpMatchArray;
  /** Peak resident memory so far, in MB (VmHWM). */
  peakRssMb(): number;
  /** CPU time used so far (user + system, all threads), in seconds. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * Starts a compiled script (path under dist/) and waits for its output to match `ready`. After that
 * only the last few KB of output are kept, printed if the process dies before it is stopped.
 * `stdin: true` leaves its standard input open for the caller (`child.stdin`).
 */
export function start(script: string, args: string[], env: Record<string, string>, ready: RegExp, options: { stdin?: boolean } = {}): Promise<Child> {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes to every child: a way to profile them.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(REPO_ROOT, 'dist', script), ...args], {
    env: { ...process.env, ...env },
    cwd: REPO_ROOT,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let started = false;
  return new Promise((resolve, reject) => {
    let stopping = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (started) {
        output = output.slice(-4000);
        return;
      }
      const match = output.match(ready);
      if (match) {
        started = true;
        resolve({
          child,
          match,
          peakRssMb() {
            const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
            return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
          },
          cpuSeconds() {
            // Fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
            const fields = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
            return (Number(fields[11]) + Number(fields[12])) / 100;
          },
          stop() {
            stopping = true;
            if (child.exitCode !== null) return Promise.resolve();
            const exited = new Promise<void>((done) => child.once('exit', () => done()));
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      if (!started) reject(new Error(`${script} exited with ${code}:\n${output.slice(-2000)}`));
      else if (!stopping && code !== 0) process.stderr.write(`[bench] ${script} died (${code ?? signal}) while in use:\n${output}\n`);
    });
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Inserts `count` devices straight into a migrated SQLite file, in one transaction. */
export function seedDevices(file: string, count: number, userId: string | null = null): string[] {
  const db = new Database(file);
  const insert = db.prepare('INSERT INTO devices (channel, token, website_push_id, user_id, created_at, registered_at) VALUES (?, ?, ?, ?, ?, ?)');
  const tokens: string[] = [];
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const token = crypto.randomBytes(32).toString('hex');
      insert.run('safari', token, PUSH_ID, userId, now, now);
      if (count <= 200_000) tokens.push(token);
    }
  })();
  db.close();
  return tokens;
}

/** Requests per second autocannon sustained after a warm-up, and its error counts. */
export async function load(options: autocannon.Options): Promise<{ rps: number; non2xx: number; errors: number; timeouts: number; total: number }> {
  // Two seconds of warm-up (JIT, connection setup) that are not counted, then the measured run.
  await autocannon({ connections: 32, ...options, duration: 2 });
  const result = await autocannon({ connections: 32, duration: 8, ...options });
  return { rps: result.requests.average, non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts, total: result.requests.total };
}

/** A provider key for the stand-in and the service, as files. */
export function providerKey(dir: string): { file: string; keyId: string; teamId: string } {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const file = path.join(dir, 'AuthKey.p8');
  fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { file, keyId: 'BENCHKEY01', teamId: 'BENCHTEAM1' };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/** Waits until GET url answers 200. */
export async function waitForHttp(url: string, timeoutMs = 30_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(100)) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/**
 * Inserts `count` Web Push subscriptions at `origin`/push/<n> straight into a migrated SQLite file.
 * The keys are 16 real P-256 subscriptions reused (the bench stand-in does not decrypt). Writes the
 * first `keep` as JSON lines to `subscriptionsFile` when given (the bare client's list).
 */
export function seedSubscriptions(file: string, count: number, origin: string, keep?: { subscriptionsFile: string; count: number }): void {
  const keys = Array.from({ length: 16 }, () => {
    const ecdh = crypto.createECDH('prime256v1');
    return { p256dh: ecdh.generateKeys().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') };
  });
  const db = new Database(file);
  const insert = db.prepare('INSERT INTO devices (channel, token, website_push_id, user_id, endpoint, p256dh, auth, created_at, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const kept: string[] = [];
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const endpoint = `${origin}/push/${i.toString(36)}`;
      const key = keys[i % keys.length];
      insert.run('webpush', crypto.createHash('sha256').update(endpoint).digest('hex'), PUSH_ID, null, endpoint, key.p256dh, key.auth, now, now);
      if (keep && i < keep.count) kept.push(JSON.stringify({ endpoint, keys: key }));
    }
  })();
  db.close();
  if (keep) fs.writeFileSync(keep.subscriptionsFile, `${kept.join('\n')}\n`);
}
