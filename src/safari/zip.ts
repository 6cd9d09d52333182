import zlib from 'node:zlib';

/**
 * A minimal zip writer for push packages: stored (uncompressed) entries, which every unzipper
 * and Safari read. The icons' local entries are built once and reused for every package; only
 * website.json, manifest.json and signature are new per request.
 */

/** 1980-01-01 00:00, the earliest DOS date: packages are byte-identical apart from their content. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

export interface ZipEntry {
  name: Buffer;
  crc: number;
  size: number;
  /** Local file header followed by the data. */
  local: Buffer;
}

export function zipEntry(name: string, data: Buffer): ZipEntry {
  const nameBytes = Buffer.from(name, 'utf8');
  const crc = zlib.crc32(data);
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0); // local file header signature
  header.writeUInt16LE(20, 4); // version needed: 2.0
  header.writeUInt16LE(0x0800, 6); // flags: UTF-8 names
  header.writeUInt16LE(0, 8); // method: stored
  header.writeUInt16LE(DOS_TIME, 10);
  header.writeUInt16LE(DOS_DATE, 12);
  header.writeUInt32LE(crc, 14);
  header.writeUInt32LE(data.length, 18);
  header.writeUInt32LE(data.length, 22);
  header.writeUInt16LE(nameBytes.length, 26);
  header.writeUInt16LE(0, 28); // extra field length
  return { name: nameBytes, crc, size: data.length, local: Buffer.concat([header, nameBytes, data]) };
}

function centralRecord(entry: ZipEntry, offset: number): Buffer {
  const record = Buffer.alloc(46);
  record.writeUInt32LE(0x02014b50, 0); // central directory signature
  record.writeUInt16LE(20, 4); // version made by
  record.writeUInt16LE(20, 6); // version needed
  record.writeUInt16LE(0x0800, 8);
  record.writeUInt16LE(0, 10);
  record.writeUInt16LE(DOS_TIME, 12);
  record.writeUInt16LE(DOS_DATE, 14);
  record.writeUInt32LE(entry.crc, 16);
  record.writeUInt32LE(entry.size, 20);
  record.writeUInt32LE(entry.size, 24);
  record.writeUInt16LE(entry.name.length, 28);
  // extra, comment, disk number, internal attributes: 0
  record.writeUInt32LE(0, 38); // external attributes
  record.writeUInt32LE(offset, 42); // offset of the local header
  return Buffer.concat([record, entry.name]);
}

/** The whole archive: local entries, central directory, end record. */
export function zip(entries: ZipEntry[]): Buffer {
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    central.push(centralRecord(entry, offset));
    offset += entry.local.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...entries.map((entry) => entry.local), directory, end]);
}
