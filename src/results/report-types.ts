import type { ProportionTest } from './stats';

/*
 * What GET /api/v1/campaigns/{id}/report answers (besides the campaign's name and status), on its
 * own with nothing but types so that the campaign studio (studio/src/api.ts) reads the same
 * definitions as the server writes.
 */

/** The counts of a group of deliveries (a campaign, a variant, a channel). */
export interface Totals {
  targeted: number;
  sent: number;
  failed: number;
  removed: number;
  skipped: number;
  heldOut: number;
  /** Web Push only: legacy Safari cannot report it (null in byChannel.safari). */
  shown: number | null;
  clicked: number;
  /** Users who converted (each once per notification). */
  converted: number;
  revenue: number;
  /** Users reached (sent), the denominator of conversionRate; null per channel (users are counted per notification). */
  users: number | null;
  clickRate: number | null;
  conversionRate: number | null;
}

export interface CampaignReport {
  campaignId: string;
  occurrence: string | null;
  goal: boolean;
  totals: Totals;
  control: { users: number; converted: number; conversionRate: number | null; revenue: number } | null;
  lift: (ProportionTest & { treated: { users: number; converted: number }; control: { users: number; converted: number } }) | null;
  /** The variants' test sends (with a winner, before it) or their whole sends (without). */
  variants: Array<{ name: string } & Totals>;
  /** A winner's sends to the rest: which variant won, and what those sends did. */
  winner: ({ name: string } & Totals) | null;
  byChannel: { safari: Totals; webpush: Totals };
  series: Array<{ at: string; sent: number; shown: number; clicked: number; converted: number; revenue: number }>;
  failures: Array<{ outcome: 'failed' | 'removed'; reason: string | null; count: number }>;
  notes: string[];
}
