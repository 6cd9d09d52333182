import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { zip, zipEntry } from '../../src/safari/zip';
import { readZip } from '../helpers/package';
import { tempDir } from '../helpers/service';

describe('the zip writer', () => {
  test('when entries are zipped, then yauzl and the unzip command read back the same files', async () => {
    const files = { 'icon.iconset/icon_16x16.png': Buffer.from([0x89, 0x50, 0, 1, 2, 255]), 'website.json': Buffer.from('{"é": "ü"}'), empty: Buffer.alloc(0) };
    const archive = zip(Object.entries(files).map(([name, data]) => zipEntry(name, data)));
    const read = await readZip(archive);
    expect([...read.keys()]).toEqual(Object.keys(files));
    for (const [name, data] of Object.entries(files)) expect(read.get(name)!.equals(data)).toBe(true);

    const dir = tempDir('safari-push-zip-');
    fs.writeFileSync(path.join(dir, 'a.zip'), archive);
    expect(execFileSync('unzip', ['-t', 'a.zip'], { cwd: dir }).toString()).toContain('No errors detected');
  });
});
