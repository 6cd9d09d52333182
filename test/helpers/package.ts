import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import yauzl from 'yauzl';
import { PUSH_ID, tempDir, type TestService } from './service';

/** Reads every entry of a zip into memory, with an independent unzipper. */
export function readZip(buffer: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return reject(error);
      const files = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError || !stream) return reject(streamError);
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('end', () => {
            files.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(files));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/**
 * Runs the check anyone can run on a package (docs/protocol.md §1):
 * `openssl cms -verify -binary -inform DER -in signature -content manifest.json -CAfile <root> -purpose any`.
 * Returns openssl's exit status and output instead of throwing.
 */
export function opensslVerify(signature: Buffer, manifest: Buffer, rootPem: string): { ok: boolean; output: string } {
  const dir = tempDir('safari-push-verify-');
  try {
    fs.writeFileSync(path.join(dir, 'signature'), signature);
    fs.writeFileSync(path.join(dir, 'manifest.json'), manifest);
    fs.writeFileSync(path.join(dir, 'root.pem'), rootPem);
    const output = execFileSync(
      'openssl',
      ['cms', '-verify', '-binary', '-inform', 'DER', '-in', 'signature', '-content', 'manifest.json', '-CAfile', 'root.pem', '-purpose', 'any', '-out', '/dev/null'],
      { cwd: dir, stdio: 'pipe' },
    );
    return { ok: true, output: output.toString() };
  } catch (error) {
    const failure = error as { stderr?: Buffer; message: string };
    return { ok: false, output: failure.stderr?.toString() ?? failure.message };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The certificates inside a DER PKCS#7, as openssl prints their subjects. */
export function signatureCertificateSubjects(signature: Buffer): string[] {
  const output = execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], { input: signature }).toString();
  return output.split('\n').filter((line) => line.startsWith('subject=')).map((line) => line.slice('subject='.length).trim());
}

/** A supertest parser that keeps the body as bytes. */
export function binaryParser(res: request.Response, callback: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => callback(null, Buffer.concat(chunks)));
}

/** POSTs userInfo to pushPackages and unzips the answer. */
export async function fetchPackage(service: TestService, version: string, userInfo: unknown) {
  const res = await request(service.app)
    .post(`/${version}/pushPackages/${PUSH_ID}`)
    .set('Content-Type', 'application/json')
    .send(JSON.stringify(userInfo))
    .buffer(true)
    .parse(binaryParser);
  return { res, files: res.status === 200 ? await readZip(res.body as Buffer) : new Map<string, Buffer>() };
}

