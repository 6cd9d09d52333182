import crypto from 'node:crypto';
import { Queue } from 'bullmq';
import knex, { type Knex } from 'knex';
import request from 'supertest';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { createTestDatabase, TEST_POSTGRES_URL } from '../helpers/databases';
import { runCompiled, stopProcess, type Running } from '../helpers/process';
import { API_KEY, AUTH_SECRET, buildService, PUSH_ID, tempDir } from '../helpers/service';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const bearer = `Bearer ${API_KEY}`;
const CAMPAIGNS = 12;
const DEVICES = 10;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('campaigns across processes: two API processes and two workers on PostgreSQL and Redis', () => {
  test('when the worker firing a send is killed mid-way, then another process takes it over and every campaign reaches every device exactly once', async () => {
    const key = createProviderKey();
    const apns = await standIn({ providerKeys: [key], topics: [PUSH_ID], urlArgsCount: 2 });
    const database = createTestDatabase('postgres');
    const queueName = `test-${crypto.randomBytes(4).toString('hex')}`;
    const env = {
      ...database.env,
      ...apnsEnv(apns, key),
      DATA_DIR: tempDir(),
      API_KEYS: API_KEY,
      AUTH_TOKEN_SECRET: AUTH_SECRET,
      PORT: '0',
      HOST: '127.0.0.1',
      QUEUE_URL: REDIS_URL,
      QUEUE_NAME: queueName,
      QUEUE_WORKER_IN_API: 'false',
      SCHEDULER_INTERVAL_MS: '50',
      SCHEDULER_LEASE_MS: '2000',
    };
    // This process only sets up the data (its scheduler off): the four below do the work.
    const setup = await buildService(database, { ...env, SCHEDULER_INTERVAL_MS: '0' });
    const processes: Running[] = [];
    // A connection of the test's own, to hold back every notification insert (see below).
    const lockDb: Knex = knex({ client: 'pg', connection: TEST_POSTGRES_URL, searchPath: [database.env.DATABASE_SCHEMA as string], pool: { min: 1, max: 1 } });
    let unlock: (() => void) | undefined;
    try {
      const tokens = Array.from({ length: DEVICES }, () => deviceToken());
      for (const token of tokens) await setup.context.devices.register({ token, websitePushId: PUSH_ID, userId: null, now: Date.now() });
      for (let i = 0; i < 2; i++) processes.push(await runCompiled('server.js', [], env, /"port":(\d+)/));
      for (let i = 0; i < 2; i++) processes.push(await runCompiled('worker.js', [], env, /worker ready/));
      const [api1, api2] = processes.map((p) => `http://127.0.0.1:${p.match[1]}`);

      // While the test holds this lock, a process that fires a send blocks inside it, holding its
      // lease (status firing): the moment "killed while firing" is then certain, not a race.
      const locked = new Promise<void>((ready) => {
        void lockDb.transaction(async (trx) => {
          await trx.raw('LOCK TABLE notifications IN EXCLUSIVE MODE');
          ready();
          await new Promise<void>((resolve) => (unlock = resolve));
        });
      });
      await locked;

      const ids: string[] = [];
      for (let i = 0; i < CAMPAIGNS; i++) {
        const base = i % 2 === 0 ? api1 : api2;
        const created = await request(base).post('/api/v1/campaigns').set('Authorization', bearer).send({ name: `c${i}`, message: { title: `c${i}`, body: 'b', urlArgs: ['a', 'b'] }, audience: { all: true }, schedule: { type: 'now' } }).expect(201);
        await request(base).post(`/api/v1/campaigns/${created.body.id}/launch`).set('Authorization', bearer).set('Idempotency-Key', `launch-${i}`).expect(200);
        ids.push(created.body.id);
      }

      // Wait until the first worker holds a send's lease (blocked on the lock), then kill it.
      const worker = processes[2];
      const pid = String(worker.child.pid);
      let held: Array<{ id: string; lease_owner: string }> = [];
      for (const deadline = Date.now() + 20_000; held.length === 0 && Date.now() < deadline; await sleep(20)) {
        held = (await setup.context.db('occurrence_sends').where({ status: 'firing' }).select('id', 'lease_owner')).filter((row: { lease_owner: string }) => row.lease_owner.split(':')[1] === pid);
      }
      expect(held).toHaveLength(1);
      worker.child.kill('SIGKILL');
      expect(await worker.exited).toBe('SIGKILL');
      unlock?.();

      // Everything goes out: the dead worker's send once its lease has run out.
      const sent = () => apns.requests.length;
      for (const deadline = Date.now() + 40_000; sent() < CAMPAIGNS * DEVICES && Date.now() < deadline; ) await sleep(100);
      await sleep(1000); // anything twice would show by now
      const byCampaign = new Map<string, string[]>();
      for (const r of apns.requests) {
        const title = (r.payload as { aps: { alert: { title: string } } }).aps.alert.title;
        byCampaign.set(title, [...(byCampaign.get(title) ?? []), r.token]);
      }
      expect([...byCampaign.keys()].sort()).toEqual(Array.from({ length: CAMPAIGNS }, (_, i) => `c${i}`).sort());
      for (const received of byCampaign.values()) expect(received.sort()).toEqual([...tokens].sort());
      expect(apns.requests).toHaveLength(CAMPAIGNS * DEVICES);

      const send = (await setup.context.db('occurrence_sends').where({ id: held[0].id }).first('status', 'lease_owner', 'notification_id')) as { status: string; notification_id: string };
      expect(send.status).toBe('fired');
      for (const id of ids) {
        const notifications = (await setup.context.db('notifications').where({ campaign_id: id }).select('id')) as Array<{ id: string }>;
        expect(notifications).toHaveLength(1);
        const summary = (await request(api2).get(`/api/v1/notifications/${notifications[0].id}`).set('Authorization', bearer).expect(200)).body;
        expect(summary.counts).toMatchObject({ targeted: DEVICES, sent: DEVICES, pending: 0 });
      }
      const occurrences = (await setup.context.db('campaign_occurrences').select('status')) as Array<{ status: string }>;
      expect(occurrences.map((o) => o.status)).toEqual(Array(CAMPAIGNS).fill('fired'));
    } finally {
      unlock?.();
      await Promise.all(processes.map((p) => stopProcess(p)));
      await lockDb.destroy();
      await setup.close();
      const queue = new Queue(queueName, { connection: { url: REDIS_URL } });
      await queue.obliterate({ force: true });
      await queue.close();
      await database.drop();
      await apns.close();
    }
  }, 90_000);
});
