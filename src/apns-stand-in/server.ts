import crypto from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { checkProviderToken, type TrustedProviderKey } from './provider-token';
import { checkHeaders, checkPayload, type Rejection } from './validate-request';

/** What the stand-in answers for one request to a token. */
export type Answer =
  | { status: 200 }
  | { status: number; reason: string; timestamp?: number }
  /** Resets the stream without answering, as a dropped connection would look. */
  | { reset: true }
  /** Answers `answer` after `ms` milliseconds (for timeouts). */
  | { delayMs: number; answer: Answer };

/** One request as the stand-in received it. */
export interface ReceivedRequest {
  token: string;
  headers: Record<string, string>;
  payload: unknown;
  auth: 'token' | 'certificate' | 'none';
  status: number;
  reason?: string;
}

export interface StandInOptions {
  host?: string;
  port?: number;
  /** The stand-in's own TLS identity (PEM). */
  tls: { cert: string | Buffer; key: string | Buffer };
  /** Certificate auth: CAs that issued acceptable client certificates. */
  clientCa?: Array<string | Buffer>;
  /** Token auth: provider keys whose JWTs are accepted. */
  providerKeys?: TrustedProviderKey[];
  /** Topics a provider token may send to; certificate auth allows only the certificate's UID. */
  topics?: string[];
  /** When set, payloads must carry exactly this many url-args. */
  urlArgsCount?: number;
  /** Keep every request in `requests` (tests); off for long runs such as benchmarks. Default on. */
  record?: boolean;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients. */
  maxConcurrentStreams?: number;
  onRequest?: (request: ReceivedRequest) => void;
}

export interface ApnsStandIn {
  readonly port: number;
  readonly requests: ReceivedRequest[];
  /** Answers for a token, used in order; the last one repeats. Tokens without a script get 200. */
  script(token: string, ...answers: Answer[]): void;
  /** Answers for every token whose hex starts with `prefix` (after exact-token scripts); a function is asked per request. */
  scriptPrefix(prefix: string, answer: Answer | (() => Answer)): void;
  reset(): void;
  close(): Promise<void>;
}

const UID_PATTERN = /UID=([^,\n/]+)/;

/**
 * Whether the client certificate was issued (and signed) by one of `trusted`, and is within its
 * validity period. Checked here rather than by OpenSSL's own chain verification: a certificate
 * whose issuer has the name but not the key of a trusted CA left an RSA error behind in OpenSSL
 * that later broke the whole HTTP/2 session, where APNs answers 403 BadCertificate.
 */
function issuedByTrusted(leaf: crypto.X509Certificate, trusted: crypto.X509Certificate[]): boolean {
  const now = Date.now();
  if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) return false;
  return trusted.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
}

function clientTopic(stream: http2.ServerHttp2Stream, trusted: crypto.X509Certificate[]): { authorized: boolean; uid?: string } {
  const socket = stream.session?.socket as tls.TLSSocket | undefined;
  const leaf = socket?.getPeerX509Certificate?.();
  if (!leaf) return { authorized: false };
  // X509Certificate.subject is one "KEY=value" line per attribute, UID among them.
  return { authorized: issuedByTrusted(leaf, trusted), uid: UID_PATTERN.exec(leaf.subject)?.[1] };
}

/**
 * A small server that speaks APNs' provider API (`POST /3/device/<token>` over HTTP/2 + TLS),
 * validates requests as APNs does, authenticates by provider JWT or client certificate, and
 * answers per token as scripted. Used by the tests and by `npm run apns:dev`.
 */
export async function startApnsStandIn(options: StandInOptions): Promise<ApnsStandIn> {
  const scripts = new Map<string, Answer[]>();
  const prefixes: Array<[string, Answer | (() => Answer)]> = [];
  const requests: ReceivedRequest[] = [];

  const trustedClientCas = (options.clientCa ?? []).map((pem) => new crypto.X509Certificate(pem));
  const server = http2.createSecureServer({
    cert: options.tls.cert,
    key: options.tls.key,
    // Client certificates are asked for, and judged per request by issuedByTrusted, not by OpenSSL.
    requestCert: trustedClientCas.length > 0,
    rejectUnauthorized: false,
    settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 1000 },
  });

  const nextAnswer = (token: string): Answer => {
    const script = scripts.get(token);
    if (script && script.length > 0) return script.length > 1 ? (script.shift() as Answer) : script[0];
    const byPrefix = prefixes.find(([prefix]) => token.startsWith(prefix))?.[1] ?? { status: 200 };
    return typeof byPrefix === 'function' ? byPrefix() : byPrefix;
  };

  // Like APNs, check a provider token once and trust it for a while (a minute here, then again): an
  // ECDSA verification per request would make the stand-in the bottleneck of every benchmark.
  const verifiedTokens = new Map<string, number>();
  const tokenProblem = (authorization: string | undefined) => {
    const now = Date.now();
    const verifiedAt = authorization ? verifiedTokens.get(authorization) : undefined;
    if (verifiedAt !== undefined && now - verifiedAt < 60_000) return undefined;
    const problem = checkProviderToken(authorization, options.providerKeys ?? []);
    if (!problem && authorization) {
      if (verifiedTokens.size > 1000) verifiedTokens.clear();
      verifiedTokens.set(authorization, now);
    }
    return problem;
  };

  const authenticate = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): { auth: ReceivedRequest['auth']; rejection?: Rejection } => {
    const topic = String(headers['apns-topic']);
    if (headers.authorization !== undefined || !options.clientCa?.length) {
      const problem = tokenProblem(headers.authorization);
      if (problem) return { auth: 'token', rejection: { status: 403, reason: problem } };
      if (options.topics && !options.topics.includes(topic)) return { auth: 'token', rejection: { status: 400, reason: 'TopicDisallowed' } };
      return { auth: 'token' };
    }
    const client = clientTopic(stream, trustedClientCas);
    if (!client.authorized) return { auth: 'certificate', rejection: { status: 403, reason: 'BadCertificate' } };
    if (client.uid !== topic) return { auth: 'certificate', rejection: { status: 400, reason: 'TopicDisallowed' } };
    return { auth: 'certificate' };
  };

  const respond = (stream: http2.ServerHttp2Stream, record: ReceivedRequest, answer: Answer): void => {
    // The client may reset a stream (or close its session) after sending it: nobody to answer, and
    // respond() on a destroyed stream would throw out of the stand-in.
    if (stream.destroyed || stream.closed) return;
    if ('delayMs' in answer) {
      setTimeout(() => !stream.destroyed && respond(stream, record, answer.answer), answer.delayMs).unref();
      return;
    }
    if ('reset' in answer) {
      record.status = 0;
      record.reason = 'reset';
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    record.status = answer.status;
    const apnsId = crypto.randomUUID();
    if (!('reason' in answer)) {
      stream.respond({ ':status': 200, 'apns-id': apnsId });
      stream.end();
      return;
    }
    record.reason = answer.reason;
    const body: Record<string, unknown> = { reason: answer.reason };
    if (answer.timestamp !== undefined) body.timestamp = answer.timestamp;
    stream.respond({ ':status': answer.status, 'apns-id': apnsId, 'content-type': 'application/json' });
    stream.end(JSON.stringify(body));
  };

  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => undefined);
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const token = /^\/3\/device\/([^/]*)$/.exec(String(headers[':path']))?.[1] ?? '';
      const headerRejection = checkHeaders(headers);
      const { auth, rejection: authRejection } = headerRejection ? { auth: 'none' as const, rejection: undefined } : authenticate(stream, headers);
      const rejection = headerRejection ?? authRejection ?? checkPayload(body, options.urlArgsCount);
      let payload: unknown = null;
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        payload = body.toString('utf8');
      }
      const record: ReceivedRequest = {
        token: token.toLowerCase(),
        headers: Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith(':')).map(([name, value]) => [name, String(value)])),
        payload,
        auth,
        status: 0,
      };
      if (options.record !== false) requests.push(record);
      respond(stream, record, rejection ?? nextAnswer(record.token));
      options.onRequest?.(record);
    });
  });

  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });

  return {
    port: (server.address() as AddressInfo).port,
    requests,
    script(token, ...answers) {
      scripts.set(token.toLowerCase(), answers);
    },
    scriptPrefix(prefix, answer) {
      prefixes.push([prefix.toLowerCase(), answer]);
    },
    reset() {
      scripts.clear();
      prefixes.length = 0;
      requests.length = 0;
    },
    close() {
      for (const session of sessions) session.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
