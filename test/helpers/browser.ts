import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Express } from 'express';
import { chromium, type Browser } from 'playwright-core';

const FIXTURE = path.resolve(__dirname, '../fixtures/apns-stand-in');

/** Where a Chromium is: CHROMIUM_PATH, else the first system one (`npm test` installs Debian's when none is there). */
export function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  const found = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((file) => fs.existsSync(file));
  if (!found) throw new Error('No Chromium for the browser tests: apt-get install chromium, or set CHROMIUM_PATH (npm test installs it when run as root)');
  return found;
}

/** Debian's Chromium, headless, with the flags this offline machine needs (no background networking). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // The service runs on https://localhost with the test CA, which Chromium does not know.
      '--ignore-certificate-errors',
    ],
  });
}

/**
 * An HTTPS server on localhost (the fixture certificate), listening before the app exists so its
 * origin can go into the app's configuration (WEB_SERVICE_URL); `serve(app)` then answers with it.
 */
export async function httpsOrigin(): Promise<{ origin: string; serve(app: Express): void; close(): Promise<void> }> {
  let handler: Express | undefined;
  const server = https.createServer({ cert: fs.readFileSync(path.join(FIXTURE, 'server.pem')), key: fs.readFileSync(path.join(FIXTURE, 'server.key')) }, (req, res) => {
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `https://localhost:${port}`,
    serve: (app) => {
      handler = app;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A plain HTTP site on localhost (a secure context for service workers) serving fixed files. */
export async function serveSite(files: () => Record<string, { type: string; body: string }>): Promise<{ origin: string; port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const file = files()[new URL(req.url ?? '/', 'http://localhost').pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
