import request from 'supertest';
import { BACKENDS } from '../helpers/databases';
import { useService } from '../helpers/service';

describe.each(BACKENDS)('Safari log endpoint (%s)', (backend) => {
  const ctx = useService(backend);
  const count = async () => Number((await ctx.service.context.db('safari_logs').count<{ n: number }[]>({ n: '*' }))[0].n);

  test('when Safari reports errors, then every message is kept with time, client address (truncated: CLIENT_IP\'s default) and user agent', async () => {
    const before = Date.now();
    const res = await request(ctx.service.app)
      .post('/v2/log')
      .set('User-Agent', 'Safari/17.0')
      .send({ logs: ['Signature verification of push package failed', 'Missing key in website.json'] });
    expect(res.status).toBe(200);
    const rows = await ctx.service.context.logs.list({ limit: 10 });
    const messages = rows.items.map((row) => row.message);
    expect(messages).toEqual(expect.arrayContaining(['Signature verification of push package failed', 'Missing key in website.json']));
    for (const row of rows.items.slice(0, 2)) {
      expect(row.userAgent).toBe('Safari/17.0');
      expect(row.clientIp).toMatch(/^(127\.0\.0\.0|0:0:0::)$/);
      expect(row.createdAt).toBeGreaterThanOrEqual(before);
    }
  });

  test.each([
    ['not JSON', '{"logs": [', 400],
    ['without logs', '{}', 400],
    ['logs that are not an array', '{"logs": "x"}', 400],
    ['an empty logs array', '{"logs": []}', 400],
    ['a non-string message', '{"logs": ["ok", 3]}', 400],
    ['a message over 4096 characters', JSON.stringify({ logs: ['x'.repeat(4097)] }), 400],
    ['more than 100 messages', JSON.stringify({ logs: Array.from({ length: 101 }, () => 'm') }), 400],
    ['a body over 64 KB', JSON.stringify({ logs: Array.from({ length: 20 }, () => 'y'.repeat(4000)) }), 413],
  ])('when the report is %s, then %i and nothing is kept', async (_label, body, status) => {
    const before = await count();
    const res = await request(ctx.service.app).post('/v1/log').set('Content-Type', 'application/json').send(body);
    expect(res.status).toBe(status);
    expect(res.body.error.message).toEqual(expect.any(String));
    expect(await count()).toBe(before);
  });
});
