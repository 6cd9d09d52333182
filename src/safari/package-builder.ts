import crypto from 'node:crypto';
import archiver from 'archiver';
import type { SigningIdentity } from '../certs/identity';
import { signDetached } from './pkcs7';
import type { RawPackage } from './raw-package';

type HashType = 'sha1' | 'sha512';

interface PackageFile {
  name: string;
  data: Buffer;
}

export interface PackageBuilder {
  /** A signed push package zip for one user's `authenticationToken`, in the manifest format of API `version`. */
  build(authenticationToken: string, version: number): Promise<Buffer>;
}

/** v1 manifests are SHA-1 hex strings; v2 and later name the hash type (PROTOCOL.md §1, manifest.json). */
function hashTypeFor(version: number): HashType {
  return version <= 1 ? 'sha1' : 'sha512';
}

function manifestEntry(hashType: HashType, data: Buffer): unknown {
  const hashValue = crypto.createHash(hashType).update(data).digest('hex');
  return hashType === 'sha1' ? hashValue : { hashType, hashValue };
}

function zip(files: PackageFile[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const archive = archiver('zip', { zlib: { level: 6 } });
    const chunks: Buffer[] = [];
    archive.on('data', (chunk: Buffer) => chunks.push(chunk));
    archive.on('error', reject);
    archive.on('end', () => resolve(Buffer.concat(chunks)));
    for (const file of files) archive.append(file.data, { name: file.name });
    void archive.finalize();
  });
}

/** Builds packages from a validated raw package; icon hashes are computed once, not per request. */
export function createPackageBuilder(raw: RawPackage, identity: SigningIdentity): PackageBuilder {
  const iconEntries: Record<HashType, Array<[string, unknown]>> = {
    sha1: raw.icons.map((icon) => [icon.name, manifestEntry('sha1', icon.data)]),
    sha512: raw.icons.map((icon) => [icon.name, manifestEntry('sha512', icon.data)]),
  };

  return {
    async build(authenticationToken, version) {
      const hashType = hashTypeFor(version);
      const websiteJson = Buffer.from(JSON.stringify({ ...raw.website, authenticationToken }, null, 2));
      const manifest = Buffer.from(
        JSON.stringify(Object.fromEntries([...iconEntries[hashType], ['website.json', manifestEntry(hashType, websiteJson)]]), null, 2),
      );
      return zip([
        ...raw.icons,
        { name: 'website.json', data: websiteJson },
        { name: 'manifest.json', data: manifest },
        { name: 'signature', data: signDetached(manifest, identity) },
      ]);
    },
  };
}
