import type { Express } from 'express';
import request from 'supertest';
import { useService } from '../helpers/service';

interface Layer {
  rawPath?: string;
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** Every METHOD path the app answers, found by walking express' router stack. */
function routes(app: Express): string[] {
  const found: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) found.push(`${method.toUpperCase()} ${prefix}${layer.route.path}`);
      } else if (layer.handle.stack) {
        walk(layer.handle.stack, prefix + (layer.rawPath && layer.rawPath !== '/' ? layer.rawPath : ''));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return found.map((route) => route.replace(/:(\w+)/g, '{$1}')).sort();
}

describe('GET /openapi.json', () => {
  const ctx = useService('sqlite');

  test('when fetched, then it is an OpenAPI 3.1 document describing exactly the routes the app serves', async () => {
    const res = await request(ctx.service.app).get('/openapi.json').expect(200);
    expect(res.body.openapi).toBe('3.1.0');
    const documented = Object.entries(res.body.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const served = routes(ctx.service.app);
    expect(served.length).toBeGreaterThan(10);
    expect(documented).toEqual(served);
  });

  test('when every $ref is followed, then it resolves to a schema in the document', async () => {
    const res = await request(ctx.service.app).get('/openapi.json').expect(200);
    const refs = JSON.stringify(res.body).match(/"\$ref":"#\/components\/schemas\/(\w+)"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const name = ref.split('/').pop()!.replace('"', '');
      expect(res.body.components.schemas[name]).toBeDefined();
    }
  });
});
