import fs from 'node:fs';
import path from 'node:path';
import { configSchema } from './schema';

/** The settings table of docs/configuration.md, generated from the schema's descriptions. */
export function configTable(): string {
  const rows = Object.entries(configSchema.shape).map(([name, schema]) => {
    const fallback = schema.safeParse(undefined);
    const value = fallback.success ? fallback.data : undefined;
    const shown =
      typeof value === 'number' || (typeof value === 'string' && value !== '')
        ? `\`${value}\``
        : Array.isArray(value) && value.length > 0
          ? `\`${value.join(',')}\``
          : '';
    return `| \`${name}\` | ${shown} | ${schema.description ?? ''} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

/** Replaces the table between the document's markers; returns the new text. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/configuration.md has no ${START} … ${END} markers`);
  return `${readme.slice(0, start + START.length)}\n${configTable()}\n${readme.slice(end)}`;
}

/** Where the table lives, from the repository root. */
export const CONFIG_DOC = 'docs/configuration.md';

// `npm run docs:config` rewrites the table in place.
if (require.main === module) {
  const file = path.resolve(__dirname, '../../..', CONFIG_DOC);
  fs.writeFileSync(file, withConfigTable(fs.readFileSync(file, 'utf8')));
  process.stdout.write(`Updated the settings table in ${file}\n`);
}
