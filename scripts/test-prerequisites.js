#!/usr/bin/env node
/*
 * Runs before the test suite (`npm test`): checks what the tests talk to and fails in seconds with
 * one line per missing piece instead of a minute of timeouts. The one thing it provisions itself is
 * the browser: without a Chromium it installs Debian's package (root with apt-get, as on this
 * project's machines); anywhere else it says how to get one.
 *
 *   CHROMIUM_PATH        a Chromium to use instead of /usr/bin/chromium
 *   TEST_DATABASE_URL    PostgreSQL for the tests (default postgres://postgres@127.0.0.1:5432/test)
 *   TEST_REDIS_URL       Redis for the tests (default redis://127.0.0.1:6379)
 *   SKIP_BROWSER_INSTALL=1  never install, only report
 */
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const { spawnSync } = require('node:child_process');

const problems = [];
const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

function executable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findChromium() {
  if (process.env.CHROMIUM_PATH) return executable(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : undefined;
  return CHROMIUM_CANDIDATES.find(executable);
}

function installChromium() {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !executable('/usr/bin/apt-get') || process.env.SKIP_BROWSER_INSTALL === '1') return false;
  process.stdout.write('test prerequisites: no Chromium found; installing Debian\'s chromium package (apt-get install chromium)…\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
  let result = run(['install', '-y', '-qq', '--no-install-recommends', 'chromium']);
  if (result.status !== 0) {
    run(['update', '-qq']);
    result = run(['install', '-y', '-qq', '--no-install-recommends', 'chromium']);
  }
  if (result.status !== 0) process.stderr.write(String(result.stderr).trim().split('\n').slice(-3).join('\n') + '\n');
  return result.status === 0;
}

/** Resolves true when something accepts a TCP connection at host:port within 2 s. */
function reachable(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function hostPort(url, defaultPort) {
  const parsed = new URL(url);
  return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || defaultPort) };
}

async function main() {
  if (spawnSync('openssl', ['version'], { stdio: 'ignore' }).status !== 0) {
    problems.push('openssl is missing: signature tests verify with it (apt-get install openssl)');
  }
  if (!findChromium() && !(installChromium() && findChromium())) {
    problems.push('Chromium is missing for the browser tests: apt-get install chromium, or set CHROMIUM_PATH to a Chromium or Chrome binary');
  }
  const pg = hostPort(process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test', 5432);
  if (!(await reachable(pg.host, pg.port))) {
    problems.push(`PostgreSQL is not reachable at ${pg.host}:${pg.port}: start it (pg_ctlcluster <version> main start) or set TEST_DATABASE_URL`);
  }
  const redis = hostPort(process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379', 6379);
  if (!(await reachable(redis.host, redis.port))) {
    problems.push(`Redis is not reachable at ${redis.host}:${redis.port}: start it (redis-server --daemonize yes) or set TEST_REDIS_URL`);
  }
  for (const problem of problems) process.stderr.write(`test prerequisites: ${problem}\n`);
  process.exit(problems.length > 0 ? 1 : 0);
}

void main();
