import { configSchema } from './schema';

/** The README's settings table, generated from the schema's descriptions. */
export function configTable(): string {
  const rows = Object.entries(configSchema.shape).map(([name, schema]) => {
    const fallback = schema.safeParse(undefined);
    const value = fallback.success ? fallback.data : undefined;
    const shown = typeof value === 'number' || (typeof value === 'string' && value !== '') ? `\`${value}\`` : '';
    return `| \`${name}\` | ${shown} | ${schema.description ?? ''} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

if (require.main === module) {
  process.stdout.write(`${configTable()}\n`);
}
