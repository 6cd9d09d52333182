import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { PushTarget } from './endpoint';

/**
 * How push requests travel: per push service origin, HTTP/2 when the service offers it in ALPN
 * (FCM, Apple's and Mozilla's push services do), with many streams on each of a few connections,
 * and keep-alive HTTP/1.1 otherwise. Requests are written to exactly the host and port of a
 * PushTarget. A connection that receives GOAWAY takes no new streams; requests the push service
 * did not process (stream id above its last, or refused) go again on a new connection, so a
 * graceful GOAWAY costs no outcome and no retry delay.
 */

export type Protocol = 'h2' | 'http/1.1';

/** A push service's answer; only the start of a body is kept (it becomes a reason). */
export interface PushAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export type TransportResult = { ok: true; answer: PushAnswer } | { ok: false; reason: string };

export interface TransportOptions {
  /** An answer not complete within this time fails (connect included). */
  timeoutMs: number;
  /** Name resolution for connections (the client passes one that allows public addresses only). */
  lookup: net.LookupFunction;
  /** HTTP/2 connections opened to one origin at most. */
  connectionsPerOrigin: number;
  /** Streams in flight on one HTTP/2 connection at most (fewer when the push service says so). */
  streamsPerConnection: number;
  /** Sockets of the HTTP/1.1 pool per origin (the client's window bounds them over all origins). */
  http1Sockets: number;
}

export interface PushTransport {
  post(target: PushTarget, headers: Record<string, string>, body: Buffer): Promise<TransportResult>;
  /** What an origin was found to speak, once a connection was made. */
  protocolOf(target: PushTarget): Protocol | undefined;
  close(): void;
}

const KEEP_BODY_BYTES = 1024;
const IDLE_SESSION_MS = 60_000;
/** A request the push service did not process is sent again this often at most. */
const MAX_UNPROCESSED_RETRIES = 3;
const MAX_ORIGINS = 1000;

interface Connection {
  session: http2.ClientHttp2Session;
  active: number;
  limit: number;
  usable: boolean;
  /** From a GOAWAY: the highest stream id the push service may have processed. */
  lastStreamId?: number;
}

interface Waiter {
  resolve(connection: Connection | undefined): void;
  reject(error: Error): void;
}

class Origin {
  protocol: Protocol | undefined;
  readonly connections: Connection[] = [];
  connecting = 0;
  readonly waiters: Waiter[] = [];
  constructor(readonly key: string) {}

  get active(): number {
    return this.connections.reduce((n, c) => n + c.active, 0) + this.waiters.length;
  }

  /** The usable connection with the most room, a stream of it reserved. */
  take(): Connection | undefined {
    let best: Connection | undefined;
    for (const connection of this.connections) {
      if (connection.usable && connection.active < connection.limit && (!best || connection.active < best.active)) best = connection;
    }
    if (best) best.active++;
    return best;
  }

  /** Hands free streams to waiters; with HTTP/1.1 found, every waiter goes that way. */
  wake(): void {
    while (this.waiters.length > 0) {
      if (this.protocol === 'http/1.1') {
        this.waiters.shift()?.resolve(undefined);
        continue;
      }
      const connection = this.take();
      if (!connection) return;
      this.waiters.shift()?.resolve(connection);
    }
  }

  fail(error: Error): void {
    // Waiters fail only when nothing may still serve them.
    if (this.connections.some((c) => c.usable) || this.connecting > 0) return;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  drop(connection: Connection): void {
    connection.usable = false;
    const index = this.connections.indexOf(connection);
    if (index >= 0) this.connections.splice(index, 1);
  }
}

/**
 * Whether a stream that got no answer was certainly not processed by the push service, so sending
 * it again cannot deliver twice (RFC 9113 §8.7): its id is above the last stream id of a GOAWAY, or
 * the push service reset it with REFUSED_STREAM. A stream's rstCode alone does not tell: Node also
 * sets it from the error code of a GOAWAY that covered the stream.
 */
function unprocessed(connection: Connection, stream: http2.ClientHttp2Stream | undefined, error: NodeJS.ErrnoException | undefined): boolean {
  if (stream?.id !== undefined && connection.lastStreamId !== undefined) return stream.id > connection.lastStreamId;
  return error?.code === 'ERR_HTTP2_STREAM_ERROR' && /REFUSED_STREAM/.test(error.message);
}

/** Only the start of an answer's body is kept (it becomes a reason); the rest is read and dropped. */
function bodyStart(stream: NodeJS.ReadableStream): Buffer[] {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    if (size < KEEP_BODY_BYTES) chunks.push(chunk);
    size += chunk.length;
  });
  return chunks;
}

/** SNI carries names only, never an IP literal. */
const sni = (target: PushTarget) => (net.isIP(target.hostname) === 0 ? { servername: target.hostname } : {});

export function createPushTransport(options: TransportOptions): PushTransport {
  const origins = new Map<string, Origin>();
  const agent = new https.Agent({ keepAlive: true, maxSockets: options.http1Sockets });
  let closed = false;

  const originOf = (target: PushTarget): Origin => {
    const key = `${target.hostname}|${target.port}`;
    let origin = origins.get(key);
    if (origin) {
      // Most recently used last: the first is the one to evict.
      origins.delete(key);
      origins.set(key, origin);
      return origin;
    }
    if (origins.size >= MAX_ORIGINS) {
      for (const [oldKey, old] of origins) {
        if (old.active > 0 || old.connecting > 0) continue;
        for (const connection of old.connections) connection.session.close();
        origins.delete(oldKey);
        break;
      }
    }
    origin = new Origin(key);
    origins.set(key, origin);
    return origin;
  };

  /** Opens one connection and learns from ALPN what the origin speaks. */
  const open = (origin: Origin, target: PushTarget): void => {
    origin.connecting++;
    let settled = false;
    const socket = tls.connect({
      host: target.hostname,
      port: target.port,
      ...sni(target),
      ALPNProtocols: ['h2', 'http/1.1'],
      lookup: options.lookup,
    });
    const timer = setTimeout(() => socket.destroy(new Error(`Timeout: no TLS connection within ${options.timeoutMs} ms`)), options.timeoutMs);
    const failed = (error: Error) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      origin.connecting--;
      origin.fail(error);
    };
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      settled = true;
      origin.connecting--;
      socket.removeListener('error', failed);
      if (socket.alpnProtocol !== 'h2') {
        origin.protocol = 'http/1.1';
        socket.destroy();
        origin.wake();
        return;
      }
      origin.protocol = 'h2';
      const session = http2.connect(target.origin, { createConnection: () => socket, settings: { enablePush: false } });
      const connection: Connection = { session, active: 0, limit: options.streamsPerConnection, usable: true };
      session.on('remoteSettings', (settings) => {
        connection.limit = Math.max(1, Math.min(options.streamsPerConnection, settings.maxConcurrentStreams ?? Infinity));
        origin.wake();
      });
      // A GOAWAY: no new streams here; the next requests open another connection.
      session.on('goaway', (_code: number, lastStreamId: number) => {
        connection.lastStreamId = lastStreamId;
        origin.drop(connection);
        origin.wake();
        grow(origin, target);
      });
      session.on('close', () => {
        origin.drop(connection);
        grow(origin, target);
      });
      session.on('error', (error) => {
        origin.drop(connection);
        origin.fail(error);
      });
      session.setTimeout(IDLE_SESSION_MS, () => {
        if (connection.active === 0) session.close();
      });
      if (closed) session.close();
      origin.connections.push(connection);
      origin.wake();
    });
  };

  /** Opens connections while requests wait and the origin has room for more. */
  const grow = (origin: Origin, target: PushTarget) => {
    if (closed || origin.protocol === 'http/1.1') return;
    const usable = origin.connections.filter((c) => c.usable).length;
    if (origin.waiters.length > 0 && usable + origin.connecting < options.connectionsPerOrigin) open(origin, target);
  };

  /** A stream on a connection of the origin; undefined when the origin speaks HTTP/1.1. */
  /** A stream to send on, waited for at most until `deadline` (the request's own time counts from the start). */
  const acquire = (origin: Origin, target: PushTarget, deadline: number): Promise<Connection | undefined> => {
    if (origin.protocol === 'http/1.1') return Promise.resolve(undefined);
    const connection = origin.take();
    if (connection) return Promise.resolve(connection);
    return new Promise<Connection | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = origin.waiters.indexOf(waiter);
        if (index >= 0) origin.waiters.splice(index, 1);
        reject(new Error(`Timeout: no connection to the push service within ${options.timeoutMs} ms`));
      }, Math.max(0, deadline - Date.now()));
      const waiter: Waiter = {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      origin.waiters.push(waiter);
      grow(origin, target);
    });
  };

  const answered = (status: number, headers: PushAnswer['headers'], chunks: Buffer[]): TransportResult => ({
    ok: true,
    answer: { status, headers, body: Buffer.concat(chunks).toString('utf8').slice(0, KEEP_BODY_BYTES) },
  });

  const overHttp2 = (origin: Origin, connection: Connection, target: PushTarget, headers: Record<string, string>, body: Buffer): Promise<TransportResult & { again?: boolean }> =>
    new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream | undefined;
      let done = false;
      const settle = (result: TransportResult & { again?: boolean }) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        connection.active--;
        origin.wake();
        resolve(result);
      };
      const deadline = setTimeout(() => {
        stream?.close(http2.constants.NGHTTP2_CANCEL);
        settle({ ok: false, reason: `Timeout: no complete answer within ${options.timeoutMs} ms` });
      }, options.timeoutMs);
      try {
        stream = connection.session.request({ ':method': 'POST', ':path': target.path, ...headers, 'content-length': String(body.length) });
      } catch (error) {
        // The session closed between taking the stream and writing it.
        settle({ ok: false, reason: (error as Error).message, again: true });
        return;
      }
      const chunks = bodyStart(stream);
      let status = 0;
      let answerHeaders: PushAnswer['headers'] = {};
      stream.on('response', (responseHeaders) => {
        status = Number(responseHeaders[':status']);
        answerHeaders = responseHeaders;
      });
      stream.on('end', () => {
        if (status > 0) settle(answered(status, answerHeaders, chunks));
      });
      stream.on('error', (error: NodeJS.ErrnoException) => settle({ ok: false, reason: error.message, again: status === 0 && unprocessed(connection, stream, error) }));
      stream.on('close', () => {
        if (status > 0 && !done) settle(answered(status, answerHeaders, chunks));
        else settle({ ok: false, reason: `Stream closed without an answer (code ${stream?.rstCode})`, again: status === 0 && unprocessed(connection, stream, undefined) });
      });
      stream.end(body);
    });

  const overHttp1 = (target: PushTarget, headers: Record<string, string>, body: Buffer): Promise<TransportResult> =>
    new Promise((resolve) => {
      let done = false;
      const settle = (result: TransportResult) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        resolve(result);
      };
      const request = https.request(
        {
          agent,
          method: 'POST',
          hostname: target.hostname,
          port: target.port,
          path: target.path,
          headers: { ...headers, 'content-length': body.length },
          ...sni(target),
          lookup: options.lookup,
          timeout: options.timeoutMs,
        },
        (response: http.IncomingMessage) => {
          const chunks = bodyStart(response);
          response.on('end', () => settle(answered(response.statusCode ?? 0, response.headers, chunks)));
          response.on('error', (error) => settle({ ok: false, reason: error.message }));
        },
      );
      // The socket timeout catches silence; the deadline also a push service that answers drop by drop.
      const deadline = setTimeout(() => request.destroy(new Error(`Timeout: no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
      request.on('timeout', () => request.destroy(new Error(`Timeout: no answer within ${options.timeoutMs} ms`)));
      request.on('error', (error) => settle({ ok: false, reason: error.message }));
      request.end(body);
    });

  return {
    async post(target, headers, body) {
      if (closed) return { ok: false, reason: 'Web Push client closed' };
      const origin = originOf(target);
      const deadline = Date.now() + options.timeoutMs;
      for (let attempt = 0; ; attempt++) {
        let connection: Connection | undefined;
        try {
          connection = await acquire(origin, target, deadline);
        } catch (error) {
          return { ok: false, reason: (error as Error).message };
        }
        if (!connection) return overHttp1(target, headers, body);
        const result = await overHttp2(origin, connection, target, headers, body);
        if (!result.ok && result.again && attempt < MAX_UNPROCESSED_RETRIES && !closed) continue;
        if (!result.ok) return { ok: false, reason: result.reason };
        return result;
      }
    },
    protocolOf(target) {
      return origins.get(`${target.hostname}|${target.port}`)?.protocol;
    },
    close() {
      closed = true;
      for (const origin of origins.values()) {
        for (const connection of origin.connections) connection.session.close();
        for (const waiter of origin.waiters.splice(0)) waiter.reject(new Error('Web Push client closed'));
      }
      agent.destroy();
    },
  };
}
