import type { DeviceFacts } from './auth-token';
import crypto from 'node:crypto';
import type { SigningIdentity } from '../certs/identity';
import { createDetachedSigner } from './pkcs7';
import type { RawPackage } from './raw-package';
import { zip, zipEntry, type ZipEntry } from './zip';

type HashType = 'sha1' | 'sha512';

export interface PackageBuilder {
  /** A signed push package zip for one user's `authenticationToken`, in the manifest format of API `version`. */
  build(authenticationToken: string, version: number): Promise<Buffer>;
}

/** v1 manifests are SHA-1 hex strings; v2 and later name the hash type (docs/protocol.md §1, manifest.json). */
function hashTypeFor(version: number): HashType {
  return version <= 1 ? 'sha1' : 'sha512';
}

function manifestEntry(hashType: HashType, data: Buffer): unknown {
  const hashValue = crypto.createHash(hashType).update(data).digest('hex');
  return hashType === 'sha1' ? hashValue : { hashType, hashValue };
}

/**
 * Builds packages from a validated raw package. Everything that does not depend on the user is
 * computed once: the icons' hashes and their zip entries, the signer's fixed DER. Per package:
 * website.json with the token, its hash, the manifest, one native RSA signature, and the zip.
 */
export function createPackageBuilder(raw: RawPackage, identity: SigningIdentity): PackageBuilder {
  const sign = createDetachedSigner(identity);
  const iconEntries: ZipEntry[] = raw.icons.map((icon) => zipEntry(icon.name, icon.data));
  const iconHashes: Record<HashType, Array<[string, unknown]>> = {
    sha1: raw.icons.map((icon) => [icon.name, manifestEntry('sha1', icon.data)]),
    sha512: raw.icons.map((icon) => [icon.name, manifestEntry('sha512', icon.data)]),
  };

  // website.json and manifest.json differ per package in one value each: keep the rest as text.
  const [websiteHead, websiteTail] = JSON.stringify({ ...raw.website, authenticationToken: '\u0000' }, null, 2).split('"\\u0000"');
  const manifestText = (hashType: HashType) => JSON.stringify(Object.fromEntries([...iconHashes[hashType], ['website.json', '\u0000']]), null, 2).split('"\\u0000"');
  const manifestParts: Record<HashType, string[]> = { sha1: manifestText('sha1'), sha512: manifestText('sha512') };

  return {
    async build(authenticationToken, version) {
      const hashType = hashTypeFor(version);
      const websiteJson = Buffer.from(`${websiteHead}${JSON.stringify(authenticationToken)}${websiteTail}`);
      const [manifestHead, manifestTail] = manifestParts[hashType];
      const manifest = Buffer.from(`${manifestHead}${JSON.stringify(manifestEntry(hashType, websiteJson), null, 2).replace(/\n/g, '\n  ')}${manifestTail}`);
      const signature = await sign(manifest);
      return zip([...iconEntries, zipEntry('website.json', websiteJson), zipEntry('manifest.json', manifest), zipEntry('signature', signature)]);
    },
  };
}

export interface PackageSource {
  /** The package for a user: from the cache while fresh, else minted and signed now. */
  packageFor(userId: string | null, version: number, facts?: DeviceFacts): Promise<Buffer>;
}

/**
 * Packages for identified users are cached (LRU, `size` entries, `ttlMs`): Safari asks again on
 * every permission prompt, and a user's token stays valid, so the same signed zip can be served.
 * Anonymous packages are never cached: each anonymous visitor gets a token of its own.
 */
export function createPackageSource(
  builder: PackageBuilder,
  mint: (userId: string | null, facts?: DeviceFacts) => string,
  options: { size: number; ttlMs: number },
): PackageSource {
  const cache = new Map<string, { zip: Buffer; expires: number }>();
  return {
    async packageFor(userId, version, facts = {}) {
      const key = userId === null || options.size === 0 ? undefined : `${version}\n${userId}\n${facts.timezone ?? ''}\n${facts.language ?? ''}`;
      const now = Date.now();
      if (key !== undefined) {
        const hit = cache.get(key);
        if (hit && hit.expires > now) {
          cache.delete(key);
          cache.set(key, hit);
          return hit.zip;
        }
      }
      const built = await builder.build(mint(userId, facts), version);
      if (key !== undefined) {
        cache.delete(key);
        cache.set(key, { zip: built, expires: now + options.ttlMs });
        if (cache.size > options.size) cache.delete(cache.keys().next().value as string);
      }
      return built;
    },
  };
}
