import type { Knex } from 'knex';

interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

/** Outcomes with their own partial index on deliveries (migration 006); sent is the bulk and has none. */
const PARTIAL_OUTCOMES = ['pending', 'failed', 'removed'] as const;

// Migrations live in code, not in a folder, so the same list runs from ts sources and compiled output.
// Append only: a released migration is never edited.
const migrations: Migration[] = [
  {
    name: '001_devices_and_logs',
    async up(db) {
      await db.schema.createTable('devices', (t) => {
        t.increments('id').primary();
        t.string('channel', 16).notNullable().defaultTo('safari');
        t.string('token', 64).notNullable();
        t.string('website_push_id', 255).notNullable();
        t.string('user_id', 255).nullable().index();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('registered_at').notNullable();
        t.unique(['token', 'website_push_id']);
        t.index(['registered_at', 'id']);
      });
      await db.schema.createTable('safari_logs', (t) => {
        t.increments('id').primary();
        t.text('message').notNullable();
        t.string('client_ip', 64).nullable();
        t.string('user_agent', 512).nullable();
        t.bigInteger('created_at').notNullable().index();
      });
    },
    async down(db) {
      await db.schema.dropTable('safari_logs');
      await db.schema.dropTable('devices');
    },
  },
  {
    name: '002_notifications_and_deliveries',
    async up(db) {
      await db.schema.createTable('notifications', (t) => {
        t.string('id', 36).primary();
        t.string('status', 16).notNullable();
        t.text('title').notNullable();
        t.text('body').notNullable();
        t.string('action', 255).nullable();
        t.text('url_args').notNullable();
        t.text('target').notNullable();
        t.bigInteger('expiration').nullable();
        t.integer('priority').notNullable();
        t.string('collapse_id', 64).nullable();
        t.integer('targeted').notNullable().defaultTo(0);
        t.text('error').nullable();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('started_at').nullable();
        t.bigInteger('finished_at').nullable();
        t.index(['created_at', 'id']);
        t.index(['status']);
      });
      await db.schema.createTable('deliveries', (t) => {
        t.increments('id').primary();
        t.string('notification_id', 36).notNullable().references('id').inTable('notifications').onDelete('CASCADE');
        t.string('token', 64).notNullable();
        t.string('outcome', 16).notNullable();
        t.integer('status').nullable();
        t.string('reason', 255).nullable();
        t.integer('attempts').notNullable().defaultTo(0);
        t.bigInteger('updated_at').notNullable();
        t.unique(['notification_id', 'token']);
        t.index(['notification_id', 'outcome', 'id']);
      });
    },
    async down(db) {
      await db.schema.dropTable('deliveries');
      await db.schema.dropTable('notifications');
    },
  },
  {
    // Deliveries are materialized page by page while a send runs (keyset over device ids), so a
    // broadcast to millions starts at once and its memory stays flat.
    name: '003_planned_sends',
    async up(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.bigInteger('target_max_id').notNullable().defaultTo(0);
        t.bigInteger('planned_through').notNullable().defaultTo(0);
      });
      // One delivery per device and notification, keyed by the device id: a 64-character token in
      // the unique index made every planned row twice as expensive to insert.
      await db.schema.alterTable('deliveries', (t) => {
        t.bigInteger('device_id').nullable();
        t.unique(['notification_id', 'device_id']);
        t.dropUnique(['notification_id', 'token']);
      });
    },
    async down(db) {
      await db.schema.alterTable('deliveries', (t) => {
        t.unique(['notification_id', 'token']);
        t.dropUnique(['notification_id', 'device_id']);
        t.dropColumn('device_id');
      });
      await db.schema.alterTable('notifications', (t) => {
        t.dropColumn('planned_through');
        t.dropColumn('target_max_id');
      });
    },
  },
  {
    // Outcome counts kept on the notification, updated with the outcomes themselves, so progress
    // reads one row instead of counting a million deliveries on every poll.
    name: '004_outcome_counters',
    async up(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.integer('sent_count').notNullable().defaultTo(0);
        t.integer('failed_count').notNullable().defaultTo(0);
        t.integer('removed_count').notNullable().defaultTo(0);
      });
      for (const outcome of ['sent', 'failed', 'removed']) {
        await db('notifications').update({
          [`${outcome}_count`]: db('deliveries').count('*').where({ outcome }).andWhere('notification_id', db.ref('notifications.id')),
        });
      }
    },
    async down(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.dropColumn('sent_count');
        t.dropColumn('failed_count');
        t.dropColumn('removed_count');
      });
    },
  },
  {
    // Web Push subscriptions live beside Safari devices, so one target query and one delivery
    // table serve both channels. A subscription's `token` is the SHA-256 of its endpoint: unique,
    // 64 characters like an APNs token, while the endpoint itself can be long.
    name: '005_web_push_and_clicks',
    async up(db) {
      await db.schema.alterTable('devices', (t) => {
        t.text('endpoint').nullable();
        t.string('p256dh', 128).nullable();
        t.string('auth', 64).nullable();
        t.index(['channel', 'id']);
      });
      await db.schema.alterTable('deliveries', (t) => {
        t.string('channel', 16).notNullable().defaultTo('safari');
        t.bigInteger('clicked_at').nullable();
      });
      await db.schema.alterTable('notifications', (t) => {
        t.integer('clicked_count').notNullable().defaultTo(0);
        t.text('icon').nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.dropColumn('icon');
        t.dropColumn('clicked_count');
      });
      await db.schema.alterTable('deliveries', (t) => {
        t.dropColumn('clicked_at');
        t.dropColumn('channel');
      });
      await db.schema.alterTable('devices', (t) => {
        t.dropIndex(['channel', 'id']);
        t.dropColumn('auth');
        t.dropColumn('p256dh');
        t.dropColumn('endpoint');
      });
    },
  },
  {
    // A send moves every delivery once, from pending to its outcome. An index over all outcomes
    // moved each row inside the index as well; partial indexes hold only the rows looked up by
    // outcome: pending (what a send or a restart picks up), failed and removed (the admin lists).
    // A delivery that ends as sent simply leaves the pending index.
    name: '006_partial_outcome_indexes',
    async up(db) {
      await db.schema.alterTable('deliveries', (t) => {
        t.dropIndex(['notification_id', 'outcome', 'id']);
        for (const outcome of PARTIAL_OUTCOMES) t.index(['notification_id', 'id'], `deliveries_${outcome}_index`, { predicate: db.whereRaw(`outcome = '${outcome}'`) });
      });
    },
    async down(db) {
      await db.schema.alterTable('deliveries', (t) => {
        for (const outcome of PARTIAL_OUTCOMES) t.dropIndex(['notification_id', 'id'], `deliveries_${outcome}_index`);
        t.index(['notification_id', 'outcome', 'id']);
      });
    },
  },
  {
    // Safari devices remember which authenticationToken registered them (its random nonce), so an
    // anonymous package can only re-register or delete its own device.
    name: '007_device_registered_by',
    async up(db) {
      await db.schema.alterTable('devices', (t) => {
        t.string('registered_by', 64).nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable('devices', (t) => {
        t.dropColumn('registered_by');
      });
    },
  },
  {
    // Idempotency-Key on create endpoints: the first answer per key and route, for 24 hours,
    // in the database so that every instance and a restarted one replay it.
    name: '008_idempotency_keys',
    async up(db) {
      await db.schema.createTable('idempotency_keys', (t) => {
        t.string('scope', 64).notNullable();
        t.string('key', 255).notNullable();
        t.string('request_hash', 64).notNullable();
        t.integer('status').nullable();
        t.text('response').nullable();
        t.bigInteger('created_at').notNullable().index();
        t.primary(['scope', 'key']);
      });
    },
    async down(db) {
      await db.schema.dropTable('idempotency_keys');
    },
  },
  {
    // Rich Web Push notifications: what the send API adds for Web Push (url, image, actions, ...)
    // as one JSON text, and which button a click came from, counted per button.
    name: '009_rich_web_push',
    async up(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.text('web_push').nullable();
        t.integer('action1_clicked_count').notNullable().defaultTo(0);
        t.integer('action2_clicked_count').notNullable().defaultTo(0);
      });
      await db.schema.alterTable('deliveries', (t) => {
        t.smallint('clicked_action').nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable('deliveries', (t) => {
        t.dropColumn('clicked_action');
      });
      await db.schema.alterTable('notifications', (t) => {
        t.dropColumn('action2_clicked_count');
        t.dropColumn('action1_clicked_count');
        t.dropColumn('web_push');
      });
    },
  },
  {
    // Who the users are and what they did: profiles keyed by the site's user id (attributes as
    // JSON: jsonb on PostgreSQL, text that SQLite's JSON functions read), events, saved segments,
    // and the facts a device brings along (browser, OS, time zone, language, last visit).
    name: '010_audience',
    async up(db) {
      await db.schema.createTable('profiles', (t) => {
        t.string('user_id', 255).primary();
        t.jsonb('attributes').notNullable();
        t.string('timezone', 64).nullable();
        t.string('language', 35).nullable();
        t.boolean('test').notNullable().defaultTo(false);
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
        t.bigInteger('last_seen_at').nullable();
        t.index(['created_at', 'user_id']);
      });
      await db.schema.createTable('events', (t) => {
        t.bigIncrements('id').primary();
        t.string('name', 64).notNullable();
        t.string('user_id', 255).nullable();
        t.bigInteger('device_id').nullable();
        t.bigInteger('time').notNullable();
        t.jsonb('properties').nullable();
        t.string('client_ip', 64).nullable();
        t.bigInteger('created_at').notNullable();
        // Segments read the users (or anonymous devices) with events of one name in a time window:
        // one range of (name, time) each, which also keeps inserts at the right edge of the index
        // (events arrive in time order), where an index led by the user puts every event on a page
        // of its own. Retention deletes by time.
        t.index(['name', 'time', 'user_id'], 'events_name_time_user_index');
        t.index(['name', 'time', 'device_id'], 'events_name_time_device_index', { predicate: db.whereNull('user_id') });
        t.index(['time']);
      });
      // PostgreSQL writes index changes to its log as small records and takes the random inserts of
      // a per-user index well; SQLite writes whole pages, so there a user's events are read through
      // the time index instead (docs/audience.md).
      if ((db.client as { config: { client: string } }).config.client === 'pg') {
        await db.schema.alterTable('events', (t) => {
          t.index(['user_id', 'time', 'id'], 'events_user_time_index', { predicate: db.whereNotNull('user_id') });
        });
      }
      await db.schema.createTable('segments', (t) => {
        t.string('id', 36).primary();
        t.string('name', 255).notNullable();
        t.text('filter').notNullable();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
        t.index(['created_at', 'id']);
      });
      await db.schema.alterTable('devices', (t) => {
        t.string('browser', 32).nullable();
        t.string('os', 32).nullable();
        t.string('timezone', 64).nullable();
        t.string('language', 35).nullable();
        t.bigInteger('last_seen_at').nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable('devices', (t) => {
        for (const column of ['last_seen_at', 'language', 'timezone', 'os', 'browser']) t.dropColumn(column);
      });
      await db.schema.dropTable('segments');
      await db.schema.dropTable('events');
      await db.schema.dropTable('profiles');
    },
  },
  {
    // Campaigns: a message, an audience and a schedule, and their occurrences. An occurrence row
    // is created once per (campaign, due time) and carries the id its notification will have, so
    // whichever process fires it (under a lease) creates that one notification and no other.
    name: '011_campaigns',
    async up(db) {
      await db.schema.createTable('campaigns', (t) => {
        t.string('id', 36).primary();
        t.string('name', 255).notNullable();
        t.text('labels').notNullable();
        t.text('message').notNullable();
        t.text('audience').notNullable();
        t.text('schedule').notNullable();
        t.text('rules').notNullable();
        t.string('status', 16).notNullable();
        t.bigInteger('next_at').nullable();
        t.bigInteger('launched_at').nullable();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
        t.index(['status', 'next_at']);
        t.index(['created_at', 'id']);
      });
      await db.schema.createTable('campaign_occurrences', (t) => {
        t.bigIncrements('id').primary();
        t.string('campaign_id', 36).notNullable();
        t.bigInteger('due_at').notNullable();
        t.string('status', 16).notNullable();
        t.string('notification_id', 36).notNullable().unique();
        t.string('reason', 255).nullable();
        t.string('lease_owner', 64).nullable();
        t.bigInteger('lease_until').nullable();
        t.bigInteger('fired_at').nullable();
        t.bigInteger('created_at').notNullable();
        t.unique(['campaign_id', 'due_at']);
        t.index(['status', 'due_at']);
      });
      await db.schema.alterTable('notifications', (t) => {
        t.string('campaign_id', 36).nullable().index();
        t.boolean('test').notNullable().defaultTo(false);
      });
    },
    async down(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.dropIndex(['campaign_id']);
        t.dropColumn('test');
        t.dropColumn('campaign_id');
      });
      await db.schema.dropTable('campaign_occurrences');
      await db.schema.dropTable('campaigns');
    },
  },
  {
    // Local time and quiet hours: an occurrence goes out as several sends, one per group of time
    // zones whose moment has come (each its own notification); devices that get no message have
    // the outcome skipped, counted like the others. lead_ms: how long before its due time (in the
    // schedule's zone) a campaign's occurrence is planned, so that the earliest zones are on time.
    name: '012_campaign_sends',
    async up(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.integer('skipped_count').notNullable().defaultTo(0);
      });
      await db.schema.alterTable('campaigns', (t) => {
        t.bigInteger('lead_ms').notNullable().defaultTo(0);
      });
      await db.schema.alterTable('campaign_occurrences', (t) => {
        t.bigInteger('plan_at').nullable();
      });
      await db('campaign_occurrences').update({ plan_at: db.ref('due_at') });
      await db.schema.alterTable('campaign_occurrences', (t) => {
        t.index(['status', 'plan_at']);
      });
      await db.schema.createTable('occurrence_sends', (t) => {
        t.bigIncrements('id').primary();
        t.bigInteger('occurrence_id').notNullable();
        t.string('campaign_id', 36).notNullable().index();
        t.bigInteger('due_at').notNullable();
        // send: a notification to the devices of the zones; skip: the same, every device skipped.
        t.string('kind', 8).notNullable();
        t.string('skip_reason', 32).nullable();
        // JSON: the zones this send takes (null: every device), and the zones of the whole
        // occurrence when this send also takes the devices of any zone not among them.
        t.text('zones').nullable();
        t.text('others_than').nullable();
        t.string('status', 16).notNullable();
        t.string('notification_id', 36).notNullable().unique();
        t.string('reason', 255).nullable();
        t.string('lease_owner', 64).nullable();
        t.bigInteger('lease_until').nullable();
        t.bigInteger('fired_at').nullable();
        t.bigInteger('created_at').notNullable();
        t.unique(['occurrence_id', 'due_at', 'kind']);
        t.index(['status', 'due_at']);
      });
    },
    async down(db) {
      await db.schema.dropTable('occurrence_sends');
      await db.schema.alterTable('campaign_occurrences', (t) => {
        t.dropIndex(['status', 'plan_at']);
        t.dropColumn('plan_at');
      });
      await db.schema.alterTable('campaigns', (t) => {
        t.dropColumn('lead_ms');
      });
      await db.schema.alterTable('notifications', (t) => {
        t.dropColumn('skipped_count');
      });
    },
  },
  {
    // Frequency caps: which user (or anonymous device) was sent which capped notification when,
    // one row per pair; a capped notification's page of deliveries is checked against it.
    name: '013_frequency_caps',
    async up(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.boolean('respect_caps').notNullable().defaultTo(false);
      });
      await db.schema.createTable('frequency_ledger', (t) => {
        t.string('user_key', 300).notNullable();
        t.string('notification_id', 36).notNullable();
        t.bigInteger('at').notNullable().index();
        t.primary(['user_key', 'notification_id']);
        t.index(['user_key', 'at']);
      });
    },
    async down(db) {
      await db.schema.dropTable('frequency_ledger');
      await db.schema.alterTable('notifications', (t) => {
        t.dropColumn('respect_caps');
      });
    },
  },
  {
    // Throttled campaigns: a send split into slices, one a minute, each taking the devices whose
    // id falls in its residue class (slice_index of slice_count).
    name: '014_throttled_sends',
    async up(db) {
      await db.schema.alterTable('occurrence_sends', (t) => {
        t.integer('slice_count').notNullable().defaultTo(1);
        t.integer('slice_index').notNullable().defaultTo(0);
      });
      await db.schema.alterTable('occurrence_sends', (t) => {
        t.dropUnique(['occurrence_id', 'due_at', 'kind']);
        t.unique(['occurrence_id', 'due_at', 'kind', 'slice_index']);
      });
    },
    async down(db) {
      await db.schema.alterTable('occurrence_sends', (t) => {
        t.dropUnique(['occurrence_id', 'due_at', 'kind', 'slice_index']);
        t.unique(['occurrence_id', 'due_at', 'kind']);
      });
      await db.schema.alterTable('occurrence_sends', (t) => {
        t.dropColumn('slice_index');
        t.dropColumn('slice_count');
      });
    },
  },
  {
    // Triggered campaigns: each matching event becomes an entry, due after the campaign's delay,
    // sent to the user who did it with the event in its templates. trigger_after: the id of the
    // last event a campaign has looked at.
    name: '015_campaign_triggers',
    async up(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.text('template_data').nullable();
      });
      await db.schema.alterTable('campaigns', (t) => {
        t.string('trigger_event', 64).nullable();
        t.bigInteger('trigger_after').nullable();
      });
      await db.schema.createTable('campaign_triggers', (t) => {
        t.bigIncrements('id').primary();
        t.string('campaign_id', 36).notNullable();
        t.string('user_id', 255).notNullable();
        t.bigInteger('event_id').notNullable();
        t.bigInteger('event_time').notNullable();
        t.text('event').notNullable();
        t.bigInteger('due_at').notNullable();
        t.string('status', 16).notNullable();
        t.string('notification_id', 36).notNullable().unique();
        t.string('reason', 255).nullable();
        t.string('lease_owner', 64).nullable();
        t.bigInteger('lease_until').nullable();
        t.bigInteger('fired_at').nullable();
        t.bigInteger('created_at').notNullable();
        t.unique(['campaign_id', 'event_id']);
        t.index(['campaign_id', 'user_id', 'event_time']);
        t.index(['status', 'due_at']);
      });
    },
    async down(db) {
      await db.schema.dropTable('campaign_triggers');
      await db.schema.alterTable('campaigns', (t) => {
        t.dropColumn('trigger_after');
        t.dropColumn('trigger_event');
      });
      await db.schema.alterTable('notifications', (t) => {
        t.dropColumn('template_data');
      });
    },
  },
  {
    // Results: shown reports, conversions toward a goal, control groups and A/B variants. Each
    // notification keeps its counters (shown, held out, converted, revenue) and an hourly rollup
    // per channel (result_buckets), written with the outcomes themselves, so a campaign's report
    // reads a few rows per notification and hour, never its deliveries.
    name: '016_results',
    async up(db) {
      await db.schema.alterTable('notifications', (t) => {
        t.integer('shown_count').notNullable().defaultTo(0);
        t.integer('held_out_count').notNullable().defaultTo(0);
        t.integer('converted_count').notNullable().defaultTo(0);
        t.double('revenue').notNullable().defaultTo(0);
        // JSON: {event, where?, within, revenueProperty?, after}; its event name apart, for the conversion rounds.
        t.text('goal').nullable();
        t.string('goal_event', 64).nullable();
        // A campaign's part: its A/B variant's name, or "control" for the held-out group.
        t.string('variant', 64).nullable();
        t.boolean('control').notNullable().defaultTo(false);
        // A winner send's notification: the chosen variant to the rest (kept apart from the test in reports).
        t.boolean('winner').notNullable().defaultTo(false);
        t.bigInteger('occurrence_id').nullable().index();
        // Distinct users with a delivery sent (held out, for a control part), counted when it completes.
        t.integer('users_reached').nullable();
      });
      await db.schema.alterTable('notifications', (t) => {
        t.index(['goal_event', 'created_at'], 'notifications_goal_event_index', { predicate: db.whereNotNull('goal_event') });
      });
      await db.schema.alterTable('deliveries', (t) => {
        t.bigInteger('shown_at').nullable();
      });
      await db.schema.createTable('result_buckets', (t) => {
        t.string('notification_id', 36).notNullable();
        t.string('channel', 16).notNullable();
        t.bigInteger('hour').notNullable();
        for (const column of ['sent', 'failed', 'removed', 'skipped', 'held_out', 'shown', 'clicked', 'converted']) t.integer(column).notNullable().defaultTo(0);
        t.double('revenue').notNullable().defaultTo(0);
        t.primary(['notification_id', 'channel', 'hour']);
      });
      // Failed and removed deliveries by reason, counted as they are recorded (the report's failures).
      await db.schema.createTable('result_reasons', (t) => {
        t.string('notification_id', 36).notNullable();
        t.string('outcome', 16).notNullable();
        t.string('reason', 255).notNullable();
        t.integer('count').notNullable().defaultTo(0);
        t.primary(['notification_id', 'outcome', 'reason']);
      });
      await db.schema.createTable('conversions', (t) => {
        t.bigIncrements('id').primary();
        t.string('notification_id', 36).notNullable();
        t.string('user_key', 300).notNullable();
        t.bigInteger('event_id').notNullable();
        t.bigInteger('delivery_id').nullable();
        t.string('channel', 16).notNullable();
        t.bigInteger('at').notNullable();
        t.double('revenue').nullable();
        t.bigInteger('created_at').notNullable();
        t.unique(['notification_id', 'event_id']);
        t.index(['notification_id', 'user_key']);
        // Erasure finds a user's rows, retention the old ones.
        t.index(['user_key']);
        t.index(['at']);
      });
      // The last event the conversion rounds have read; events before the upgrade are not read.
      await db.schema.createTable('result_watermarks', (t) => {
        t.string('name', 32).primary();
        t.bigInteger('after').notNullable();
      });
      const [{ last }] = (await db('events').max({ last: 'id' })) as Array<{ last: number | string | null }>;
      await db('result_watermarks').insert({ name: 'conversions', after: Number(last ?? 0) });
      await db.schema.alterTable('campaigns', (t) => {
        // JSON: {goal?, controlGroupPercent?, variants?, winner?}
        t.text('results').nullable();
      });
      await db.schema.alterTable('occurrence_sends', (t) => {
        // A winner send: the notification of its test part, whose variants it compares.
        t.string('test_notification_id', 36).nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable('occurrence_sends', (t) => {
        t.dropColumn('test_notification_id');
      });
      await db.schema.alterTable('campaigns', (t) => {
        t.dropColumn('results');
      });
      await db.schema.dropTable('result_watermarks');
      await db.schema.dropTable('conversions');
      await db.schema.dropTable('result_reasons');
      await db.schema.dropTable('result_buckets');
      await db.schema.alterTable('deliveries', (t) => {
        t.dropColumn('shown_at');
      });
      await db.schema.alterTable('notifications', (t) => {
        t.dropIndex(['goal_event', 'created_at'], 'notifications_goal_event_index');
        t.dropIndex(['occurrence_id']);
        for (const column of ['users_reached', 'occurrence_id', 'winner', 'control', 'variant', 'goal_event', 'goal', 'revenue', 'converted_count', 'held_out_count', 'shown_count']) t.dropColumn(column);
      });
    },
  },
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (migration) => migration.name,
  getMigration: async (migration) => migration,
};
