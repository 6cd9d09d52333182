import type { Knex } from 'knex';

interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

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
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (migration) => migration.name,
  getMigration: async (migration) => migration,
};
