import forge from 'node-forge';
import type { SigningIdentity } from '../certs/identity';

/**
 * A detached PKCS#7 (CMS) signature over `content`, DER-encoded, carrying the signing certificate
 * and the intermediate that issued it: Safari rejects a package whose signature lacks the WWDR
 * intermediate (PROTOCOL.md §1, "signature").
 */
export function signDetached(content: Buffer, identity: SigningIdentity): Buffer {
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(content.toString('binary'));
  p7.addCertificate(identity.certificate);
  p7.addCertificate(identity.intermediate);
  p7.addSigner({
    key: identity.privateKey,
    certificate: identity.certificate,
    digestAlgorithm: forge.pki.oids.sha256,
    authenticatedAttributes: [
      { type: forge.pki.oids.contentType, value: forge.pki.oids.data },
      { type: forge.pki.oids.messageDigest },
      { type: forge.pki.oids.signingTime, value: new Date() as unknown as string },
    ],
  });
  p7.sign({ detached: true });
  return Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary');
}
