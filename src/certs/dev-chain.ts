import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import type { Logger } from '../logger';
import { certificatePushId, type SigningIdentity } from './identity';
import { ensurePrivateDir } from '../files';

/** PEM files of a three-level chain like Apple's: root, WWDR-like intermediate, website push certificate. */
export interface ChainPems {
  rootCert: string;
  intermediateCert: string;
  intermediateKey: string;
  leafCert: string;
  leafKey: string;
}

interface Issuer {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Apple Push Notification service client certificate: development, production. */
const APNS_ENVIRONMENT_OIDS = ['1.2.840.113635.100.6.3.1', '1.2.840.113635.100.6.3.2'];
const DER_NULL = forge.asn1.toDer(forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.NULL, false, '')).getBytes();

function rsaKeyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  // node:crypto generates in milliseconds what forge's pure-JS generator takes seconds for.
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function makeCertificate(
  subject: forge.pki.CertificateField[],
  keys: { publicKey: forge.pki.rsa.PublicKey },
  issuer: Issuer | 'self',
  signingKey: forge.pki.rsa.PrivateKey,
  extensions: object[],
  validity: { notBefore: Date; notAfter: Date },
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  // A leading 01 keeps the DER integer positive.
  cert.serialNumber = `01${crypto.randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = validity.notBefore;
  cert.validity.notAfter = validity.notAfter;
  cert.setSubject(subject);
  cert.setIssuer(issuer === 'self' ? subject : issuer.cert.subject.attributes);
  cert.setExtensions([...extensions, { name: 'subjectKeyIdentifier' }]);
  cert.sign(signingKey, forge.md.sha256.create());
  return cert;
}

/**
 * Generates a chain shaped like Apple's. `leafDays` and `caDays` set the remaining lifetime of the
 * website push certificate and of the two CAs (tests use them to exercise the expiry checks).
 */
export function generateChain(websitePushID: string, options: { leafDays?: number; caDays?: number; now?: Date } = {}): ChainPems {
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - DAY_MS);
  const caValidity = { notBefore, notAfter: new Date(now.getTime() + (options.caDays ?? 3650) * DAY_MS) };
  const caExtensions = [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ];

  const rootKeys = rsaKeyPair();
  const rootSubject = [
    { name: 'commonName', value: 'safari-push Development Root CA' },
    { name: 'organizationName', value: 'safari-push development' },
  ];
  const root = makeCertificate(rootSubject, rootKeys, 'self', rootKeys.privateKey, caExtensions, caValidity);

  const intermediateKeys = rsaKeyPair();
  const intermediate = makeCertificate(
    [
      { name: 'commonName', value: 'safari-push Development WWDR stand-in' },
      { name: 'organizationalUnitName', value: 'G4' },
      { name: 'organizationName', value: 'safari-push development' },
    ],
    intermediateKeys,
    { cert: root, key: rootKeys.privateKey },
    rootKeys.privateKey,
    caExtensions,
    caValidity,
  );

  const leafKeys = rsaKeyPair();
  const leaf = makeCertificate(
    [
      { type: '0.9.2342.19200300.100.1.1', value: websitePushID },
      { name: 'commonName', value: `Website Push ID: ${websitePushID}` },
      { name: 'organizationName', value: 'safari-push development' },
    ],
    leafKeys,
    { cert: intermediate, key: intermediateKeys.privateKey },
    intermediateKeys.privateKey,
    [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
      // Apple marks push client certificates for the APNs environments they may use (both, today);
      // node-apn refuses a certificate without the mark for its environment.
      ...APNS_ENVIRONMENT_OIDS.map((id) => ({ id, value: DER_NULL })),
    ],
    { notBefore, notAfter: new Date(now.getTime() + (options.leafDays ?? 365) * DAY_MS) },
  );

  return {
    rootCert: forge.pki.certificateToPem(root),
    intermediateCert: forge.pki.certificateToPem(intermediate),
    intermediateKey: forge.pki.privateKeyToPem(intermediateKeys.privateKey),
    leafCert: forge.pki.certificateToPem(leaf),
    leafKey: forge.pki.privateKeyToPem(leafKeys.privateKey),
  };
}

/** File names of the development chain inside `<DATA_DIR>/dev-certs`. */
export const DEV_CHAIN_FILES = {
  root: 'root-ca.pem',
  intermediate: 'wwdr-stand-in.pem',
  leafCert: 'website-push.pem',
  leafKey: 'website-push.key',
} as const;

function identityFrom(pems: { leafCert: string; leafKey: string; intermediateCert: string }): SigningIdentity {
  return {
    certificate: forge.pki.certificateFromPem(pems.leafCert),
    privateKey: forge.pki.privateKeyFromPem(pems.leafKey) as forge.pki.rsa.PrivateKey,
    intermediate: forge.pki.certificateFromPem(pems.intermediateCert),
    certificatePem: pems.leafCert,
    intermediatePem: pems.intermediateCert,
    privateKeyPem: pems.leafKey,
    development: true,
  };
}

function readExisting(dir: string, websitePushID: string): SigningIdentity | undefined {
  try {
    const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
    const identity = identityFrom({
      leafCert: read(DEV_CHAIN_FILES.leafCert),
      leafKey: read(DEV_CHAIN_FILES.leafKey),
      intermediateCert: read(DEV_CHAIN_FILES.intermediate),
    });
    read(DEV_CHAIN_FILES.root);
    const fresh = identity.certificate.validity.notAfter.getTime() > Date.now() + 30 * DAY_MS;
    return fresh && certificatePushId(identity.certificate) === websitePushID ? identity : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Loads the development chain from `<dataDir>/dev-certs`, generating it when missing, stale, or
 * made for another push ID. Logs a loud warning either way: Safari rejects these packages.
 */
export function ensureDevelopmentIdentity(dataDir: string, websitePushID: string, logger: Logger): SigningIdentity {
  const dir = path.join(dataDir, 'dev-certs');
  let identity = readExisting(dir, websitePushID);
  if (!identity) {
    const chain = generateChain(websitePushID);
    ensurePrivateDir(dir);
    fs.writeFileSync(path.join(dir, DEV_CHAIN_FILES.root), chain.rootCert);
    fs.writeFileSync(path.join(dir, DEV_CHAIN_FILES.intermediate), chain.intermediateCert);
    fs.writeFileSync(path.join(dir, DEV_CHAIN_FILES.leafCert), chain.leafCert);
    fs.writeFileSync(path.join(dir, DEV_CHAIN_FILES.leafKey), chain.leafKey, { mode: 0o600 });
    identity = identityFrom(chain);
    logger.info({ dir }, 'Generated a development certificate chain');
  }
  logger.warn(
    { dir },
    '!!! DEVELOPMENT SIGNING CERTIFICATES: no SIGNING_P12 or SIGNING_CERT is configured. Push packages are signed by a ' +
      'local stand-in chain that Safari REJECTS. Configure Apple\'s website push certificate and WWDR_CERT for production (see certs.example/). !!!',
  );
  return identity;
}
