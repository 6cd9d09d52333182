import request from 'supertest';
import { endpointToken } from '../../src/devices/repository';
import { isPostgres } from '../../src/db/connection';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID, type TestService } from '../helpers/service';
import { pushStandIn, SITE_ORIGIN } from '../helpers/webpush';
import type { ApnsStandIn } from '../../src/apns-stand-in/server';
import type { PushStandIn } from '../../src/webpush-stand-in/server';

const bearer = `Bearer ${API_KEY}`;

/**
 * A send must finish whatever the answers say: an answer longer than deliveries.reason
 * (varchar 255 on PostgreSQL) or one the database refuses must not hold back the batch it is in.
 */
describe.each(BACKENDS)('recording outcomes that the database would refuse (%s)', (backend) => {
  const key = createProviderKey();
  let apns: ApnsStandIn;
  let push: PushStandIn;
  let database: TestDatabase;
  let service: TestService;

  beforeAll(async () => {
    apns = await standIn({ providerKeys: [key], topics: [PUSH_ID], urlArgsCount: 2 });
    push = await pushStandIn();
    database = createTestDatabase(backend);
    service = await buildService(database, {
      ...apnsEnv(apns, key),
      // `.push.invalid` names resolve nowhere: the transport error carries the whole (long) host.
      WEBPUSH_ENDPOINT_HOSTS: `.push.invalid,127.0.0.1:${push.port}`,
      APNS_MAX_ATTEMPTS: '1',
    });
  });
  afterAll(async () => {
    await service?.close();
    await database?.drop();
    await Promise.all([apns?.close(), push?.close()]);
  });

  const send = (userId: string) =>
    request(service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 'Writer', body: 'Every outcome lands', urlArgs: ['a', 'b'], to: { users: [userId] } });
  const deliveries = async (id: string) =>
    (await request(service.app).get(`/api/v1/notifications/${id}/deliveries?limit=200`).set('Authorization', bearer).expect(200)).body.items as Array<{ channel: string; outcome: string; reason: string | null }>;
  const subscribeStandIn = async (userId: string) => {
    const subscription = push.subscribe();
    await request(service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription, userId }).expect(201);
    return subscription;
  };

  test('when a push service cannot be reached and the error names a 253-character host, then the reason is stored cut to 255 characters and the send completes', async () => {
    const host = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(48)}.push.invalid`;
    expect(host).toHaveLength(253);
    const { keys } = push.subscribe();
    await request(service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription: { endpoint: `https://${host}/x`, keys }, userId: 'far-away' }).expect(201);
    await service.context.devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: 'far-away', now: Date.now() });
    const res = await send('far-away');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'completed', counts: { targeted: 2, sent: 1, failed: 1, pending: 0 } });
    const failed = (await deliveries(res.body.id)).find((d) => d.outcome === 'failed');
    expect(failed?.reason).toMatch(/^getaddrinfo \w+ a{63}/);
    expect(failed?.reason?.length).toBe(255);
    expect(failed?.reason?.endsWith('…')).toBe(true);
  });

  test('when the database refuses one outcome of a batch, then the others are written, that one is stored with a plain reason, and the send completes', async () => {
    // A trigger that refuses one reason, as a constraint or a broken value would: a real database error.
    const db = service.context.db;
    if (isPostgres(db)) {
      await db.raw(`CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN IF NEW.reason LIKE '%poison%' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
      await db.raw('CREATE TRIGGER refuse_poison BEFORE UPDATE ON deliveries FOR EACH ROW EXECUTE FUNCTION refuse_poison()');
    } else {
      await db.raw("CREATE TRIGGER refuse_poison BEFORE UPDATE ON deliveries WHEN NEW.reason LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'refused'); END");
    }
    const fine = await Promise.all([1, 2, 3, 4, 5].map(() => subscribeStandIn('poisoned-batch')));
    const poisoned = await subscribeStandIn('poisoned-batch');
    push.script(poisoned.id, [{ status: 400, body: 'poison pill' }]);
    const res = await send('poisoned-batch');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'completed', counts: { targeted: 6, sent: 5, failed: 1, pending: 0 } });
    const items = await deliveries(res.body.id);
    expect(items.filter((d) => d.outcome === 'sent')).toHaveLength(fine.length);
    expect(items.find((d) => d.outcome === 'failed')?.reason).toBe('The answer could not be stored as it was (see the service log)');
    expect(service.logs.messages(40)).toContain('An outcome could not be stored as it was; stored with a plain reason');
    expect(await db('deliveries').where({ token: endpointToken(poisoned.endpoint) }).first('outcome')).toEqual({ outcome: 'failed' });
  });

  test('when a reason or log text is long, holds NUL or a lone surrogate, then the repositories store it bounded and well-formed', async () => {
    const [{ id }] = await service.context.db('deliveries').orderBy('id', 'desc').limit(1).select('id');
    const notification = (await service.context.db('deliveries').where({ id }).first('notification_id')) as { notification_id: string };
    await service.context.db('deliveries').where({ id }).update({ outcome: 'pending' });
    await service.context.notifications.recordOutcomes([{ notificationId: notification.notification_id, deliveryId: id, channel: 'safari', outcome: 'failed', status: null, reason: `x\u0000${'\ud800'}${'y'.repeat(600)}`, attempts: 1 }], Date.now());
    const row = (await service.context.db('deliveries').where({ id }).first('reason')) as { reason: string };
    expect(row.reason.length).toBe(255);
    expect(row.reason.startsWith('x\uFFFD\uFFFDy')).toBe(true);
    await service.context.logs.add(['ok'], { clientIp: '1'.repeat(100), userAgent: `\ud83d${'u'.repeat(1000)}`, now: Date.now() });
    const log = (await service.context.db('safari_logs').orderBy('id', 'desc').first('client_ip', 'user_agent')) as { client_ip: string; user_agent: string };
    expect(log.client_ip).toHaveLength(64);
    expect(log.user_agent).toHaveLength(512);
    expect(log.user_agent.isWellFormed()).toBe(true);
    await expect(service.context.devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: 'bad\ud800', now: Date.now() })).rejects.toMatchObject({ status: 400 });
  });
});
