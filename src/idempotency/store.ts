import type { Knex } from 'knex';

/** How long a key holds its answer (Stripe, the IETF draft): a retry a day later is a new request. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * A claim with no answer after this long belongs to a request that died: another may take it. A
 * create records its answer within one database write of its side effect, so this is generous.
 */
export const ABANDONED_AFTER_MS = 5 * 60 * 1000;

export type Claim =
  /** `claimedAt` identifies this claim: only its holder may complete or release it. */
  | { kind: 'new'; claimedAt: number }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' }
  | { kind: 'in-progress' };

export interface IdempotencyStore {
  /**
   * Takes `key` for a request with fingerprint `hash`, or says what the key already holds: the
   * answer to replay, another request's fingerprint, or a request still under way. Atomic across
   * processes (a primary key decides which of two racing requests wins).
   */
  claim(scope: string, key: string, hash: string, now: number): Promise<Claim>;
  /**
   * Stores the answer the key replays from now on (may be called again with a later answer), if
   * the claim is still this one's: a request that outlived its claim cannot overwrite the next.
   */
  complete(scope: string, key: string, claimedAt: number, status: number, body: unknown): Promise<void>;
  /** Gives a claim back (the request failed): a retry runs again. */
  release(scope: string, key: string, claimedAt: number): Promise<void>;
  /** Deletes the key whatever it holds (the request's effect was undone). */
  forget(scope: string, key: string, claimedAt: number): Promise<void>;
  /** Forgets keys older than `before`. */
  prune(before: number): Promise<number>;
}

interface KeyRow {
  scope: string;
  key: string;
  request_hash: string;
  status: number | null;
  response: string | null;
  created_at: number;
}

const isUniqueViolation = (error: unknown) => {
  const { code } = (error ?? {}) as { code?: string };
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
};

/** Idempotency keys in the database, so they hold across instances and restarts. */
export function createIdempotencyStore(db: Knex): IdempotencyStore {
  const keys = () => db<KeyRow>('idempotency_keys');
  return {
    async claim(scope, key, hash, now) {
      for (let round = 0; round < 3; round++) {
        try {
          await keys().insert({ scope, key, request_hash: hash, status: null, response: null, created_at: now });
          return { kind: 'new', claimedAt: now };
        } catch (error) {
          if (!isUniqueViolation(error)) throw error;
        }
        const row = (await keys().where({ scope, key }).first()) as KeyRow | undefined;
        if (!row) continue; // released or pruned meanwhile: claim again
        const age = now - Number(row.created_at);
        const expired = age >= IDEMPOTENCY_TTL_MS;
        const abandoned = row.status === null && age >= ABANDONED_AFTER_MS;
        if (expired || abandoned) {
          // Only the request that sees this exact row replaces it: a racing one finds it changed.
          await keys().where({ scope, key, created_at: row.created_at }).delete();
          continue;
        }
        if (row.request_hash !== hash) return { kind: 'mismatch' };
        if (row.status === null) return { kind: 'in-progress' };
        return { kind: 'replay', status: Number(row.status), body: row.response === null ? null : JSON.parse(row.response) };
      }
      return { kind: 'in-progress' };
    },
    async complete(scope, key, claimedAt, status, body) {
      await keys().where({ scope, key, created_at: claimedAt }).update({ status, response: JSON.stringify(body ?? null) });
    },
    async release(scope, key, claimedAt) {
      await keys().where({ scope, key, created_at: claimedAt }).whereNull('status').delete();
    },
    async forget(scope, key, claimedAt) {
      await keys().where({ scope, key, created_at: claimedAt }).delete();
    },
    async prune(before) {
      return keys().where('created_at', '<', before).delete();
    },
  };
}
