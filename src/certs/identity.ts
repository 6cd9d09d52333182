import fs from 'node:fs';
import forge from 'node-forge';
import { ConfigError, type SigningSource } from '../config/load';
import type { Logger } from '../logger';

/** OID of the subject's UID attribute, where Apple puts the website push ID. */
const UID_OID = '0.9.2342.19200300.100.1.1';
const DAY_MS = 24 * 60 * 60 * 1000;
const EXPIRY_WARNING_DAYS = 30;

/** The website push certificate, its key, and the intermediate that issued it. */
export interface SigningIdentity {
  certificate: forge.pki.Certificate;
  privateKey: forge.pki.rsa.PrivateKey;
  intermediate: forge.pki.Certificate;
  certificatePem: string;
  intermediatePem: string;
  privateKeyPem: string;
  /** True for the generated development chain, which Safari rejects. */
  development: boolean;
}

function readFile(path: string, variable: string): Buffer {
  try {
    return fs.readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function parseCertificate(pem: string, variable: string): forge.pki.Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (error) {
    throw new ConfigError(`${variable}: not a PEM certificate (${(error as Error).message})`);
  }
}

function loadP12(path: string, passphrase: string): { certificate: forge.pki.Certificate; privateKey: forge.pki.rsa.PrivateKey } {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(readFile(path, 'SIGNING_P12').toString('binary')), passphrase);
  } catch (error) {
    throw new ConfigError(`SIGNING_P12: cannot open ${path}: wrong SIGNING_P12_PASSPHRASE or not a .p12 file (${(error as Error).message})`);
  }
  const keyBags = [
    ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag] ?? []),
    ...(p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag] ?? []),
  ];
  const certBags = p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag] ?? [];
  const privateKey = keyBags.find((bag) => bag.key)?.key as forge.pki.rsa.PrivateKey | undefined;
  if (!privateKey) throw new ConfigError(`SIGNING_P12: ${path} holds no RSA private key`);
  // A Keychain export may carry other certificates too: take the one that belongs to the key.
  const certificate = certBags
    .map((bag) => bag.cert)
    .find((cert): cert is forge.pki.Certificate => Boolean(cert && matchesKey(cert, privateKey)));
  if (!certificate) throw new ConfigError(`SIGNING_P12: ${path} holds no certificate for its private key`);
  return { certificate, privateKey };
}

function loadPem(certPath: string, keyPath: string): { certificate: forge.pki.Certificate; privateKey: forge.pki.rsa.PrivateKey } {
  const certificate = parseCertificate(readFile(certPath, 'SIGNING_CERT').toString('utf8'), 'SIGNING_CERT');
  let privateKey: forge.pki.rsa.PrivateKey;
  try {
    privateKey = forge.pki.privateKeyFromPem(readFile(keyPath, 'SIGNING_KEY').toString('utf8')) as forge.pki.rsa.PrivateKey;
  } catch (error) {
    throw new ConfigError(`SIGNING_KEY: not an unencrypted RSA private key in PEM (${(error as Error).message})`);
  }
  if (!privateKey) throw new ConfigError('SIGNING_KEY: not an unencrypted RSA private key in PEM');
  return { certificate, privateKey };
}

function matchesKey(certificate: forge.pki.Certificate, privateKey: forge.pki.rsa.PrivateKey): boolean {
  const publicKey = certificate.publicKey as forge.pki.rsa.PublicKey;
  return Boolean(publicKey.n && publicKey.n.equals(privateKey.n) && publicKey.e.equals(privateKey.e));
}

/** Loads a configured identity (P12 or PEM pair, plus WWDR). */
export function loadConfiguredIdentity(source: Exclude<SigningSource, { kind: 'development' }>): SigningIdentity {
  const { certificate, privateKey } =
    source.kind === 'p12' ? loadP12(source.p12Path, source.passphrase) : loadPem(source.certPath, source.keyPath);
  const intermediatePem = readFile(source.wwdrPath, 'WWDR_CERT').toString('utf8');
  const intermediate = parseCertificate(intermediatePem, 'WWDR_CERT');
  return {
    certificate,
    privateKey,
    intermediate,
    certificatePem: forge.pki.certificateToPem(certificate),
    intermediatePem,
    privateKeyPem: forge.pki.privateKeyToPem(privateKey),
    development: false,
  };
}

/** The website push ID a certificate was issued for (its subject UID), if any. */
export function certificatePushId(certificate: forge.pki.Certificate): string | undefined {
  const value = certificate.subject.getField({ type: UID_OID })?.value;
  return typeof value === 'string' ? value : undefined;
}

/**
 * Checks what Safari and APNs will check, at start-up rather than on the first visitor:
 * key and certificate belong together, the certificate is for this push ID, the intermediate
 * issued it, and nothing has expired. Warns about expiry within 30 days.
 */
export function validateIdentity(identity: SigningIdentity, websitePushID: string, logger: Logger, now = new Date()): void {
  const { certificate, privateKey, intermediate } = identity;
  if (!matchesKey(certificate, privateKey)) {
    throw new ConfigError('The signing certificate does not match its private key: check SIGNING_CERT/SIGNING_KEY or SIGNING_P12');
  }
  const uid = certificatePushId(certificate);
  if (uid !== websitePushID) {
    throw new ConfigError(
      `The signing certificate is for ${uid ?? '(no UID)'} but websitePushID is ${websitePushID}: set WEBSITE_PUSH_ID or use that push ID's certificate`,
    );
  }
  let issued = false;
  try {
    issued = intermediate.verify(certificate);
  } catch {
    issued = false;
  }
  if (!issued) {
    throw new ConfigError('WWDR_CERT did not issue the signing certificate: use the Apple WWDR intermediate named in the certificate\'s issuer (G4 today)');
  }
  for (const [label, cert] of [
    ['website push certificate', certificate],
    ['WWDR intermediate', intermediate],
  ] as const) {
    const expires = cert.validity.notAfter;
    if (expires.getTime() <= now.getTime()) {
      throw new ConfigError(`The ${label} expired on ${expires.toISOString()}: renew it`);
    }
    const daysLeft = Math.floor((expires.getTime() - now.getTime()) / DAY_MS);
    if (daysLeft < EXPIRY_WARNING_DAYS) {
      logger.warn({ certificate: label, expires: expires.toISOString(), daysLeft }, `The ${label} expires in ${daysLeft} days: renew it`);
    }
  }
}
