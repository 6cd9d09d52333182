import crypto from 'node:crypto';
import type { SigningIdentity } from '../certs/identity';
import { children, oid, readElement, TAG, time, tlv } from './der';

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
};

const NULL = tlv(TAG.NULL);

/** The first PEM block's bytes. A PEM file may hold a chain: the first certificate is the one named. */
function pemToDer(pem: string): Buffer {
  const match = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new Error('not a PEM certificate');
  return Buffer.from(match[1].replace(/\s+/g, ''), 'base64');
}
const INTEGER_1 = tlv(TAG.INTEGER, Buffer.from([1]));
const attribute = (type: string, value: Buffer) => tlv(TAG.SEQUENCE, oid(type), tlv(TAG.SET, value));

/** Issuer name and serial number exactly as encoded in the certificate, so verifiers match them byte for byte. */
function issuerAndSerial(certificateDer: Buffer): Buffer {
  const certificate = readElement(certificateDer);
  const tbs = readElement(certificateDer, certificate.contentStart);
  const fields = children(certificateDer, tbs);
  const rest = fields[0][0] === TAG.CONTEXT_0 ? fields.slice(1) : fields; // skip [0] version
  const [serial, , issuer] = rest;
  return tlv(TAG.SEQUENCE, issuer, serial);
}

/**
 * Makes detached PKCS#7 (CMS) signatures, DER-encoded, carrying the signing certificate and the
 * intermediate that issued it: Safari rejects a package whose signature lacks the WWDR
 * intermediate (docs/protocol.md §1, "signature").
 *
 * Everything that does not depend on the content is encoded once; per signature only the digest,
 * the signing time and the RSA signature are new, and both hashing and RSA run in node:crypto
 * (native), not in node-forge's JavaScript. The certificates are carried byte for byte as loaded.
 */
export function createDetachedSigner(identity: SigningIdentity): (content: Buffer) => Promise<Buffer> {
  const certificateDer = pemToDer(identity.certificatePem);
  const intermediateDer = pemToDer(identity.intermediatePem);
  const privateKey = crypto.createPrivateKey(identity.privateKeyPem);
  const sha256 = tlv(TAG.SEQUENCE, oid(OID.sha256), NULL);
  const signerHead = Buffer.concat([INTEGER_1, issuerAndSerial(certificateDer), sha256]);
  const signatureAlgorithm = tlv(TAG.SEQUENCE, oid(OID.rsaEncryption), NULL);
  const signedDataHead = Buffer.concat([
    INTEGER_1,
    tlv(TAG.SET, sha256),
    tlv(TAG.SEQUENCE, oid(OID.data)), // detached: no eContent
    tlv(TAG.CONTEXT_0, certificateDer, intermediateDer),
  ]);
  const contentTypeAttribute = attribute(OID.contentType, oid(OID.data));

  return async (content) => {
    // DER orders SET OF by encoding; these three always sort as contentType, signingTime, messageDigest.
    const attributes = Buffer.concat([
      contentTypeAttribute,
      attribute(OID.signingTime, time(new Date())),
      attribute(OID.messageDigest, tlv(TAG.OCTET_STRING, crypto.createHash('sha256').update(content).digest())),
    ]);
    // The signature covers the attributes encoded as a SET; the SignerInfo carries them as [0] IMPLICIT.
    // The callback form runs RSA on libuv's thread pool: the event loop keeps serving meanwhile.
    const signature = await new Promise<Buffer>((resolve, reject) =>
      crypto.sign('sha256', tlv(TAG.SET, attributes), privateKey, (error, result) => (error ? reject(error) : resolve(result))),
    );
    const signerInfo = tlv(TAG.SEQUENCE, signerHead, tlv(TAG.CONTEXT_0, attributes), signatureAlgorithm, tlv(TAG.OCTET_STRING, signature));
    return tlv(TAG.SEQUENCE, oid(OID.signedData), tlv(TAG.CONTEXT_0, tlv(TAG.SEQUENCE, signedDataHead, tlv(TAG.SET, signerInfo))));
  };
}
