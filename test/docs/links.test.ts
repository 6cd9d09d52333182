import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/service';

/** The project's own documents: the front door, the reference and the certificates' guide. */
const DOCUMENTS = ['README.md', 'certs.example/README.md', ...fs.readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's heading anchors: lower case, punctuation dropped (but - and _), spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  let inCode = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const heading = !inCode && /^#{1,6} (.+)$/.exec(line);
    if (heading) found.add(heading[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return found;
}

/** Every markdown link target outside code blocks. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, (code) => (code.includes('](') ? '' : code));
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]);
}

describe('the documentation', () => {
  test.each(DOCUMENTS)('when %s links to a file or a heading, then it is inside the repository and exists', (document) => {
    const text = fs.readFileSync(path.join(REPO_ROOT, document), 'utf8');
    const targets = links(text).filter((target) => !/^(https?|mailto):/.test(target));
    for (const target of targets) {
      const [file, anchor] = target.split('#');
      const resolved = file ? path.resolve(REPO_ROOT, path.dirname(document), file) : path.join(REPO_ROOT, document);
      expect({ target, inside: resolved.startsWith(REPO_ROOT + path.sep) }).toEqual({ target, inside: true });
      expect({ target, exists: fs.existsSync(resolved) }).toEqual({ target, exists: true });
      if (anchor) expect({ target, anchor: anchors(fs.readFileSync(resolved, 'utf8')).has(anchor) }).toEqual({ target, anchor: true });
    }
  });

  test('when a newcomer opens the README, then it is a short front door (under 200 lines) that links every reference document', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme.split('\n').length).toBeLessThan(200);
    for (const document of DOCUMENTS.filter((d) => d.startsWith('docs/'))) expect(readme).toContain(`(${document})`);
  });

  test('when the code or the docs cite the protocol, then they cite the copy inside the repository', () => {
    const files = (dir: string): string[] =>
      fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? files(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
    const sources = [...files('src'), ...files('test'), ...DOCUMENTS].filter((file) => /\.(ts|js|md)$/.test(file) && file !== path.join('test', 'docs', 'links.test.ts'));
    const outside = sources.filter((file) => /\.\.\/shared|PROTOCOL\.md/.test(fs.readFileSync(path.join(REPO_ROOT, file), 'utf8')));
    expect(outside).toEqual([]);
  });
});
