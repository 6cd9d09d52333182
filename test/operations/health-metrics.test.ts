import request from 'supertest';
import { deviceToken, useApnsService } from '../helpers/apns';
import { BACKENDS, createTestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID } from '../helpers/service';

describe.each(BACKENDS)('health and metrics (%s)', (backend) => {
  const ctx = useApnsService(backend, { urlArgsCount: 2 });

  test('when the process runs and the database answers, then /healthz and /readyz are 200', async () => {
    expect((await request(ctx.service.app).get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await request(ctx.service.app).get('/readyz')).body).toEqual({ status: 'ready' });
  });

  test('when packages, registrations, logs and sends happen, then /metrics counts them by version, action, status and reason', async () => {
    await request(ctx.service.app).post(`/v2/pushPackages/${PUSH_ID}`).send({}).expect(200);
    await request(ctx.service.app).post(`/v1/pushPackages/${PUSH_ID}`).send({}).expect(200);
    await request(ctx.service.app).post('/v2/log').send({ logs: ['a', 'b'] }).expect(200);
    const token = ctx.service.context.authTokens.mint(null);
    const device = deviceToken();
    const dead = deviceToken();
    for (const d of [device, dead]) {
      await request(ctx.service.app).post(`/v2/devices/${d}/registrations/${PUSH_ID}`).set('Authorization', `ApplePushNotifications ${token}`).expect(200);
    }
    ctx.apns.script(dead, { status: 410, reason: 'Unregistered', timestamp: Date.now() + 1000 });
    await request(ctx.service.app)
      .post('/api/v1/notifications?wait=true')
      .set('Authorization', `Bearer ${API_KEY}`)
      .send({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { tokens: [device, dead] } })
      .expect(200);

    const res = await request(ctx.service.app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.text;
    expect(text).toMatch(/push_packages_served_total\{version="v2"\} 1/);
    expect(text).toMatch(/push_packages_served_total\{version="v1"\} 1/);
    expect(text).toMatch(/safari_registrations_total\{action="register"\} 2/);
    expect(text).toMatch(/safari_log_messages_total 2/);
    expect(text).toMatch(/apns_responses_total\{status="200",reason=""\} 1/);
    expect(text).toMatch(/apns_responses_total\{status="410",reason="Unregistered"\} 1/);
    expect(text).toMatch(/deliveries_total\{outcome="sent"\} 1/);
    expect(text).toMatch(/deliveries_total\{outcome="removed"\} 1/);
    expect(text).toMatch(/send_queue_depth\{state="running"\} 0/);
    expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/:version\/pushPackages\/:websitePushID",status_code="200"\} 2/);
    expect(text).not.toContain(device);
  });

  test('when shutdown has begun, then /readyz is 503 while /healthz stays 200', async () => {
    ctx.service.context.state.shuttingDown = true;
    try {
      const res = await request(ctx.service.app).get('/readyz');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'shutting_down' });
      expect((await request(ctx.service.app).get('/healthz')).status).toBe(200);
    } finally {
      ctx.service.context.state.shuttingDown = false;
    }
  });
});

describe('readiness without a database', () => {
  test('when the database is gone, then /readyz is 503', async () => {
    const database = createTestDatabase('postgres');
    const service = await buildService(database);
    await service.context.db.destroy();
    const res = await request(service.app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: 'database_unreachable' });
    await service.context.queue.stop();
    await service.context.apns.close();
    await database.drop();
  });
});

describe('METRICS_AUTH=api-key', () => {
  test('when /metrics is asked without a key, then 401; with one, 200', async () => {
    const database = createTestDatabase('sqlite');
    const service = await buildService(database, { METRICS_AUTH: 'api-key' });
    try {
      expect((await request(service.app).get('/metrics')).status).toBe(401);
      expect((await request(service.app).get('/metrics').set('Authorization', `Bearer ${API_KEY}`)).status).toBe(200);
    } finally {
      await service.close();
      await database.drop();
    }
  });
});
