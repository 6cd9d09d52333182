import pino from 'pino';
import type { ApnsStandIn } from '../../src/apns-stand-in/server';
import { createApnsClient, type ApnsClient, type ApnsMessage } from '../../src/apns/client';
import { connectionsOfThread, startThreadedApnsClient, threadOldGenerationMb } from '../../src/apns/threaded-client';
import type { SigningIdentity } from '../../src/certs/identity';
import { ConfigError, loadConfig, type ApnsConfig } from '../../src/config/load';
import { createProviderKey, deviceToken, standIn, type ProviderKey } from '../helpers/apns';
import { LogCapture } from '../helpers/service';
import { sleep, waitFor } from '../helpers/wait';

// Token auth needs no certificate; the identity is only read for certificate auth.
const NO_IDENTITY = { certificatePem: '', privateKeyPem: '' } as SigningIdentity;
const MESSAGE: ApnsMessage = { topic: 'web.com.example', payload: { aps: { alert: { title: 'Gate change', body: 'B12' }, 'url-args': [] } }, priority: 10, expiration: 0 };

function apnsConfig(apns: ApnsStandIn, key: ProviderKey, overrides: Partial<ApnsConfig> = {}): ApnsConfig {
  return {
    host: 'localhost',
    port: apns.port,
    auth: { kind: 'token', keyFile: key.file, keyId: key.keyId, teamId: key.teamId },
    connections: 2,
    threads: 0,
    streamsPerConnection: 100,
    requestTimeoutMs: 500,
    maxAttempts: 3,
    retryBaseMs: 5,
    ...overrides,
  };
}

type Kind = 'on the event loop' | 'in one thread' | 'in two threads';
const KINDS: Kind[] = ['on the event loop', 'in one thread', 'in two threads'];

function startClient(kind: Kind, config: ApnsConfig, logs = new LogCapture()): Promise<ApnsClient> {
  if (kind === 'on the event loop') return Promise.resolve(createApnsClient(config, NO_IDENTITY));
  return startThreadedApnsClient({ ...config, threads: kind === 'in one thread' ? 1 : 2 }, NO_IDENTITY, pino(logs));
}

describe.each(KINDS)('APNs client %s', (kind) => {
  const key = createProviderKey();
  let apns: ApnsStandIn;
  let client: ApnsClient | undefined;

  beforeEach(async () => {
    apns = await standIn({ providerKeys: [key] });
  });

  afterEach(async () => {
    await client?.close();
    client = undefined;
    await apns.close();
  });

  test('when APNs answers, then each answer comes back typed for its own device, and APNs saw the prepared message', async () => {
    client = await startClient(kind, apnsConfig(apns, key));
    const tokens = { ok: deviceToken(), bad: deviceToken(), gone: deviceToken(), busy: deviceToken(), reset: deviceToken(), slow: deviceToken() };
    apns.script(tokens.bad, { status: 400, reason: 'BadDeviceToken' });
    apns.script(tokens.gone, { status: 410, reason: 'Unregistered', timestamp: 1_700_000_000_000 });
    apns.script(tokens.busy, { status: 429, reason: 'TooManyRequests' });
    apns.script(tokens.reset, { reset: true });
    apns.script(tokens.slow, { delayMs: 2000, answer: { status: 200 } });
    const prepared = client.prepare(MESSAGE);
    const results = await Promise.all(Object.values(tokens).map((token) => client!.send(token, prepared)));
    expect(results).toEqual([
      { ok: true },
      { ok: false, status: 400, reason: 'BadDeviceToken' },
      { ok: false, status: 410, reason: 'Unregistered', timestamp: 1_700_000_000_000 },
      { ok: false, status: 429, reason: 'TooManyRequests' },
      { ok: false, status: null, reason: expect.any(String) },
      { ok: false, status: null, reason: expect.any(String) },
    ]);
    const seen = apns.requests.find((request) => request.token === tokens.ok);
    expect(seen).toMatchObject({ status: 200, headers: { 'apns-topic': 'web.com.example', 'apns-priority': '10', 'apns-push-type': 'alert' } });
    expect(seen!.payload).toEqual(MESSAGE.payload);
  });

  test('when devices get their own bodies with one prepared message, then each device gets its body and every one the message headers', async () => {
    client = await startClient(kind, apnsConfig(apns, key));
    const prepared = client.prepare({ ...MESSAGE, priority: 5, collapseId: 'sale', expiration: 1_900_000_000 });
    const tokens = [deviceToken(), deviceToken(), deviceToken()];
    const bodies = tokens.map((token, index) => JSON.stringify({ aps: { alert: { title: `Hi ${index}`, body: token.slice(0, 8) }, 'url-args': [] } }));
    // The middle device takes the prepared body; the others their own.
    const results = await Promise.all(tokens.map((token, index) => client!.send(token, prepared, index === 1 ? undefined : bodies[index])));
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    for (const [index, token] of tokens.entries()) {
      const seen = apns.requests.find((request) => request.token === token);
      expect(seen?.headers).toMatchObject({ 'apns-topic': 'web.com.example', 'apns-priority': '5', 'apns-collapse-id': 'sale', 'apns-expiration': '1900000000' });
      expect(seen?.payload).toEqual(index === 1 ? MESSAGE.payload : JSON.parse(bodies[index]));
    }
  });

  test('when many devices are sent at once, then no more requests are in flight than connections × streams', async () => {
    client = await startClient(kind, apnsConfig(apns, key, { connections: 2, streamsPerConnection: 5, requestTimeoutMs: 5000 }));
    let arrived = 0;
    apns.reset();
    apns.scriptPrefix('', () => {
      arrived++;
      return { delayMs: 1000, answer: { status: 200 } };
    });
    const prepared = client.prepare(MESSAGE);
    const sends = Array.from({ length: 30 }, () => client!.send(deviceToken(), prepared));
    await waitFor(() => arrived >= 10, 'the first ten requests');
    // Nothing is answered for a second: a client past its window would have sent more by now.
    await sleep(200);
    expect(arrived).toBe(10);
    expect(client.inFlight).toBe(30);
    expect((await Promise.all(sends)).every((result) => result.ok)).toBe(true);
    expect(arrived).toBe(30);
  });

  test('when APNs calls the provider token expired, then that request fails with 403 and its connection signs a new token for later requests', async () => {
    client = await startClient(kind, apnsConfig(apns, key));
    const prepared = client.prepare(MESSAGE);
    const sendInTurn = async (tokens: string[]) => {
      const results = [];
      for (const token of tokens) results.push(await client!.send(token, prepared));
      return results;
    };
    // Two connections, used in turn: each has its own provider token.
    expect(await sendInTurn([deviceToken(), deviceToken()])).toEqual([{ ok: true }, { ok: true }]);
    const signedBefore = new Set(apns.requests.map((request) => request.headers.authorization));
    const expired = deviceToken();
    apns.script(expired, { status: 403, reason: 'ExpiredProviderToken' });
    expect(await sendInTurn([expired])).toEqual([{ ok: false, status: 403, reason: 'ExpiredProviderToken' }]);
    expect(await sendInTurn([deviceToken(), deviceToken()])).toEqual([{ ok: true }, { ok: true }]);
    const signedAfter = apns.requests.slice(3).map((request) => request.headers.authorization);
    expect(signedAfter.every((authorization) => /^bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(authorization))).toBe(true);
    // Exactly the refused connection's token was replaced; the other one is still in use.
    expect(signedAfter.filter((authorization) => !signedBefore.has(authorization))).toHaveLength(1);
  });

  test('when APNs drops the connections between sends, then the next sends open new ones and are answered', async () => {
    client = await startClient(kind, apnsConfig(apns, key));
    const prepared = client.prepare(MESSAGE);
    expect(await Promise.all([client.send(deviceToken(), prepared), client.send(deviceToken(), prepared)])).toEqual([{ ok: true }, { ok: true }]);
    const port = apns.port;
    await apns.close();
    apns = await standIn({ providerKeys: [key], port });
    // A request written while the client still thinks the old session is open may fail as unanswered
    // (the sender retries those); once node-apn has dropped the closed sessions, requests go through.
    let results: Array<{ ok: boolean }> = [];
    for (const until = Date.now() + 5000; Date.now() < until; await sleep(50)) {
      results = await Promise.all(Array.from({ length: 4 }, () => client!.send(deviceToken(), prepared)));
      if (results.every((result) => result.ok)) break;
    }
    expect(results).toEqual(Array.from({ length: 4 }, () => ({ ok: true })));
    expect(apns.requests.length).toBeGreaterThanOrEqual(4);
  });
});

describe('APNs threads', () => {
  const key = createProviderKey();
  let apns: ApnsStandIn;

  beforeEach(async () => {
    apns = await standIn({ providerKeys: [key] });
  });

  afterEach(async () => {
    await apns.close();
  });

  test('when a thread dies with requests in flight, then they fail as unanswered (to be retried), the error is logged without secrets, and the next send starts a new thread', async () => {
    const logs = new LogCapture();
    const client = await startThreadedApnsClient(apnsConfig(apns, key, { threads: 1 }), NO_IDENTITY, pino(logs));
    try {
      const slow = deviceToken();
      apns.script(slow, { delayMs: 3000, answer: { status: 200 } });
      const prepared = client.prepare(MESSAGE);
      const pending = client.send(slow, prepared);
      await waitFor(() => apns.requests.some((request) => request.token === slow), 'the slow request');
      const [thread] = client.threads;
      await thread.terminate();
      expect(await pending).toEqual({ ok: false, status: null, reason: expect.stringMatching(/^APNs thread stopped/) });
      expect(logs.messages().join('\n')).toMatch(/APNs thread stopped/);
      expect(logs.raw.join('\n')).not.toMatch(/PRIVATE KEY/);

      expect(await client.send(deviceToken(), prepared)).toEqual({ ok: true });
      expect(client.threads).toHaveLength(1);
      expect(client.threads[0]).not.toBe(thread);
    } finally {
      await client.close();
    }
  });

  test('when threads start, then each has a heap limit sized for its share of the stream window', async () => {
    const client = await startThreadedApnsClient(apnsConfig(apns, key, { threads: 2, connections: 3, streamsPerConnection: 100 }), NO_IDENTITY, pino(new LogCapture()));
    try {
      // Threads get 2 and 1 of the 3 connections: 200 and 100 streams.
      expect(client.threads.map((thread) => thread.resourceLimits?.maxOldGenerationSizeMb)).toEqual([threadOldGenerationMb(200), threadOldGenerationMb(100)]);
      // Room for a request in flight and one queued per stream, at several times the measured 2.8 KB each.
      expect(threadOldGenerationMb(64_000) - threadOldGenerationMb(0)).toBeGreaterThan((64_000 * 2 * 2.8 * 2) / 1024);
    } finally {
      await client.close();
    }
  });

  test('when the client closes with a request in flight, then the request ends as not answered and the threads stop', async () => {
    const client = await startThreadedApnsClient(apnsConfig(apns, key, { threads: 2 }), NO_IDENTITY, pino(new LogCapture()));
    const slow = deviceToken();
    apns.script(slow, { delayMs: 3000, answer: { status: 200 } });
    const pending = client.send(slow, client.prepare(MESSAGE));
    await waitFor(() => apns.requests.some((request) => request.token === slow), 'the slow request');
    await client.close();
    expect(await pending).toMatchObject({ ok: false, status: null });
    expect(client.threads).toHaveLength(0);
  });

  test('when the provider key cannot be read, then starting the threads fails with a configuration error', async () => {
    const config = apnsConfig(apns, key, { threads: 1, auth: { kind: 'token', keyFile: '/nonexistent/AuthKey.p8', keyId: key.keyId, teamId: key.teamId } });
    await expect(startThreadedApnsClient(config, NO_IDENTITY, pino(new LogCapture()))).rejects.toThrow(ConfigError);
  });

  test('when connections are spread over threads, then every connection goes to exactly one thread', () => {
    expect([0, 1].map((index) => connectionsOfThread(5, 2, index))).toEqual([3, 2]);
    expect([0, 1].map((index) => connectionsOfThread(2, 2, index))).toEqual([1, 1]);
    expect(connectionsOfThread(4, 1, 0)).toBe(4);
  });

  test('when there are more threads than connections, then the configuration is refused', () => {
    expect(() => loadConfig({ APNS_THREADS: '3', APNS_CONNECTIONS: '2' })).toThrow(/APNS_THREADS \(3\) is more than APNS_CONNECTIONS \(2\)/);
    expect(loadConfig({}).apns.threads).toBe(1);
  });

  test('when a client is started directly with more threads than connections, then it is refused instead of never sending', async () => {
    const key = createProviderKey();
    const config: ApnsConfig = { ...loadConfig({}).apns, auth: { kind: 'token', keyFile: key.file, keyId: key.keyId, teamId: key.teamId } };
    await expect(startThreadedApnsClient({ ...config, connections: 1, threads: 2 }, NO_IDENTITY, pino(new LogCapture()))).rejects.toThrow(ConfigError);
    expect(() => createApnsClient({ ...config, connections: 0, threads: 0 }, NO_IDENTITY)).toThrow(ConfigError);
  });
});
